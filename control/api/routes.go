package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/types"
)

// route is one endpoint: the router registers exactly this table, and
// openapi.yaml describes exactly these (route_test.go checks both ways).
type route struct {
	Method, Path string
	Handle       func(*Server, http.ResponseWriter, *http.Request)
}

// Route is an endpoint's method and path pattern ({id} for a parameter).
type Route struct{ Method, Path string }

// Routes lists every endpoint the server serves.
func Routes() []Route {
	out := make([]Route, len(routes))
	for i, r := range routes {
		out[i] = Route{r.Method, r.Path}
	}
	return out
}

var routes = []route{
	// Operational views.
	{"GET", "/v1/status", (*Server).status},
	{"GET", "/v1/interfaces", (*Server).interfaces},
	{"GET", "/v1/workers", (*Server).workers},
	{"GET", "/v1/ipsec/sa", (*Server).sas},
	{"GET", "/v1/l2tp/tunnels", (*Server).tunnels},
	{"GET", "/v1/l2tp/sessions", (*Server).l2tpSessions},
	{"GET", "/v1/firewall", (*Server).firewall},
	{"GET", "/v1/firewall/{name}", (*Server).firewallName},
	{"GET", "/v1/drops", (*Server).drops},
	{"GET", "/v1/stats", (*Server).stats},
	{"POST", "/v1/clear", (*Server).clear},

	// The running configuration and its history.
	{"GET", "/v1/config", (*Server).running},
	{"GET", "/v1/config/history", (*Server).history},
	{"POST", "/v1/config/save", (*Server).save},
	{"POST", "/v1/config/confirm", (*Server).confirm},

	// Configuration sessions: one candidate each.
	{"POST", "/v1/config/sessions", (*Server).openSession},
	{"GET", "/v1/config/sessions", (*Server).listSessions},
	{"GET", "/v1/config/sessions/{id}", (*Server).candidate},
	{"DELETE", "/v1/config/sessions/{id}", (*Server).closeSession},
	{"POST", "/v1/config/sessions/{id}/set", (*Server).set},
	{"POST", "/v1/config/sessions/{id}/delete", (*Server).delete},
	{"GET", "/v1/config/sessions/{id}/compare", (*Server).compare},
	{"POST", "/v1/config/sessions/{id}/commit", (*Server).commit},
	{"POST", "/v1/config/sessions/{id}/commit-confirm", (*Server).commitConfirm},
	{"POST", "/v1/config/sessions/{id}/discard", (*Server).discard},
	{"POST", "/v1/config/sessions/{id}/load", (*Server).load},
	{"POST", "/v1/config/sessions/{id}/merge", (*Server).merge},
	{"POST", "/v1/config/sessions/{id}/rollback", (*Server).rollback},
	{"POST", "/v1/config/sessions/{id}/rebase", (*Server).rebase},
}

func itoa(n int) string { return strconv.Itoa(n) }

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := s.ctrl.Status()
	st.Sessions = s.sessions.Len()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) interfaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.Interfaces(control.Shown))
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.Workers(control.Shown))
}

func (s *Server) sas(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.SAs(control.Shown))
}

func (s *Server) tunnels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.L2TPTunnels())
}

func (s *Server) l2tpSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.L2TPSessions(control.Shown))
}

func (s *Server) firewall(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.RuleSets(control.Shown))
}

func (s *Server) firewallName(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, rs := range s.ctrl.RuleSets(control.Shown) {
		if rs.Name == name {
			writeJSON(w, http.StatusOK, rs)
			return
		}
	}
	fail(w, fmt.Errorf("firewall name %q: %w", name, control.ErrUnknownName))
}

func (s *Server) drops(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.Drops(control.Shown))
}

// stats is ARCHITECTURE.md's stats document, raw: the same numbers
// `sluiced replay --stats` writes and Prometheus scrapes.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ctrl.Stats())
}

func (s *Server) clear(w http.ResponseWriter, r *http.Request) {
	var req types.ClearRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Scope == "" {
		req.Scope = types.ClearAll
	}
	if err := s.ctrl.Clear(req.Scope, req.Name); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	run := s.ctrl.Running()
	hist := s.ctrl.History()
	out := make([]types.Revision, len(hist))
	for i, h := range hist {
		out[i] = types.Revision{N: h.N, Who: h.Who, When: h.When, Comment: h.Comment, Running: h == run}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	rev, err := s.ctrl.Confirm(peerOf(r).name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, types.CommitResult{Revision: rev.N, Message: "commit confirmed"})
}

// session returns the session named in the path, if the caller owns it
// (root may use anyone's).
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*control.Session, bool) {
	ss, err := s.sessions.Get(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return nil, false
	}
	p := peerOf(r)
	if ss.Who != p.name && !(p.known && p.uid == 0) {
		writeError(w, http.StatusForbidden, errors.New("configuration session "+ss.ID+" belongs to "+ss.Who), nil)
		return nil, false
	}
	return ss, true
}

func (s *Server) openSession(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessions.Open(peerOf(r).name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ss.Info())
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.sessions.List())
}

func (s *Server) closeSession(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	if err := s.sessions.Close(ss.ID); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
