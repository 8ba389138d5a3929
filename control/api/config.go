package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
)

// MaxDiffLines bounds the diff a commit's answer carries; the rest is
// summarised in one line.
const MaxDiffLines = 1000

// render returns tree (or its subtree at path) in format, keys redacted.
// Formats: curly (default, VyOS's `show configuration`), yaml, commands,
// json.
func render(tree *config.Tree, rev int, path []string, format string) (types.Config, error) {
	if format == "" {
		format = "curly"
	}
	out := types.Config{Format: format, Revision: rev}
	if len(path) > 0 {
		sub, err := tree.Sub(path)
		if err != nil {
			return out, err
		}
		tree = sub
	}
	switch format {
	case "curly":
		out.Text = string(tree.Curly(config.Redacted))
	case "yaml":
		out.Text = string(tree.YAML(config.Redacted))
	case "commands":
		if cmds := tree.Commands(config.Redacted); len(cmds) > 0 {
			out.Text = strings.Join(cmds, "\n") + "\n"
		}
	case "json":
		js, err := tree.MarshalJSON() // redacts keys always
		if err != nil {
			return out, err
		}
		out.Tree = json.RawMessage(js)
	default:
		return out, badRequest{fmt.Errorf("unknown format %q (want curly, yaml, commands or json)", format)}
	}
	return out, nil
}

// queryPath is the ?path= of a show: command words separated by spaces
// (node and instance names never contain spaces).
func queryPath(r *http.Request) []string { return strings.Fields(r.URL.Query().Get("path")) }

func (s *Server) running(w http.ResponseWriter, r *http.Request) {
	run := s.ctrl.Running()
	out, err := render(run.Tree, run.N, queryPath(r), r.URL.Query().Get("format"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) candidate(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	base := ss.Base()
	out, err := render(ss.Candidate(), base.N, queryPath(r), r.URL.Query().Get("format"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// edit decodes a path request and applies op to the session.
func (s *Server) edit(w http.ResponseWriter, r *http.Request, op func(*control.Session, []string) error) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	var req types.PathRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if len(req.Path) == 0 {
		fail(w, badRequest{errors.New("an empty path")})
		return
	}
	if err := op(ss, req.Path); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ss.Info())
}

func (s *Server) set(w http.ResponseWriter, r *http.Request) {
	s.edit(w, r, (*control.Session).Set)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	s.edit(w, r, (*control.Session).Delete)
}

func diffStrings(lines []config.DiffLine) []string {
	out := make([]string, 0, min(len(lines), MaxDiffLines+1))
	for i, l := range lines {
		if i == MaxDiffLines {
			out = append(out, fmt.Sprintf("... and %d more lines", len(lines)-MaxDiffLines))
			break
		}
		out = append(out, l.String())
	}
	return out
}

func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	lines, base, stale := ss.Compare()
	writeJSON(w, http.StatusOK, types.Compare{Base: base, Stale: stale, Lines: diffStrings(lines)})
}

// commitError turns a refused commit into the API's answer: a conflict
// says what to do; a validation failure lists every problem (422).
func commitError(w http.ResponseWriter, err error) {
	if errors.Is(err, control.ErrConflict) {
		msg := "the running configuration changed since your candidate was made: `compare` to see how, " +
			"`rebase` to replay your changes on top of it (or `discard`), then commit again"
		writeError(w, http.StatusConflict, err, &msg)
		return
	}
	if statusOf(err) == http.StatusInternalServerError || statusOf(err) == http.StatusBadRequest {
		err = invalid{err}
	}
	fail(w, err)
}

func (s *Server) commitResult(w http.ResponseWriter, rev *control.Revision, diff []config.DiffLine, err error, what string) {
	if errors.Is(err, control.ErrNoChanges) {
		writeJSON(w, http.StatusOK, types.CommitResult{Revision: rev.N, Message: "no configuration changes to " + what})
		return
	}
	if err != nil {
		commitError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, types.CommitResult{Revision: rev.N, Changed: true, Diff: diffStrings(diff),
		Message: fmt.Sprintf("%s: revision %d", what, rev.N), Pending: s.ctrl.Pending()})
}

func (s *Server) commit(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	var req types.CommitRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	rev, diff, err := ss.Commit(req.Comment)
	s.commitResult(w, rev, diff, err, "commit")
}

func (s *Server) commitConfirm(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	var req types.CommitConfirmRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	d := time.Duration(req.Minutes)*time.Minute + time.Duration(req.Seconds)*time.Second
	if d <= 0 || req.Minutes < 0 || req.Seconds < 0 {
		fail(w, badRequest{errors.New("commit-confirm needs a positive number of minutes")})
		return
	}
	rev, diff, err := ss.CommitConfirm(req.Comment, d)
	s.commitResult(w, rev, diff, err, "commit-confirm")
}

func (s *Server) discard(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	ss.Discard()
	writeJSON(w, http.StatusOK, ss.Info())
}

func (s *Server) loadOrMerge(w http.ResponseWriter, r *http.Request, merge bool) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	var req types.LoadRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	format := config.FormatAuto
	if req.Format != "" {
		f, err := config.ParseFormat(req.Format)
		if err != nil {
			fail(w, badRequest{err})
			return
		}
		format = f
	}
	op := ss.Load
	if merge {
		op = ss.Merge
	}
	if err := op(req.Path, []byte(req.Text), format); err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			err = badRequest{err}
		}
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ss.Info())
}

func (s *Server) load(w http.ResponseWriter, r *http.Request)  { s.loadOrMerge(w, r, false) }
func (s *Server) merge(w http.ResponseWriter, r *http.Request) { s.loadOrMerge(w, r, true) }

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	var req types.RollbackRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	rev, diff, err := ss.Rollback(req.Revision)
	s.commitResult(w, rev, diff, err, "rollback")
}

func (s *Server) rebase(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(w, r)
	if !ok {
		return
	}
	lines, err := ss.Rebase()
	if err != nil {
		fail(w, invalid{err})
		return
	}
	info := ss.Info()
	writeJSON(w, http.StatusOK, types.Compare{Base: info.Base, Stale: info.Stale, Lines: diffStrings(lines)})
}

// savePath resolves the file `save` writes: the daemon's configuration
// file, or a file named in its directory. The daemon runs as root; the
// API's group must not be able to make it write anywhere else.
func (s *Server) savePath(req string) (string, error) {
	if s.opts.SavePath == "" {
		return "", badRequest{errNoSave}
	}
	if req == "" {
		return s.opts.SavePath, nil
	}
	dir := filepath.Dir(filepath.Clean(s.opts.SavePath))
	p := req
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p = filepath.Clean(p)
	if filepath.Dir(p) != dir || strings.HasPrefix(filepath.Base(p), ".") {
		return "", badRequest{fmt.Errorf("save writes only files in %s (not hidden ones)", dir)}
	}
	return p, nil
}

func (s *Server) save(w http.ResponseWriter, r *http.Request) {
	var req types.SaveRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	path, err := s.savePath(req.Path)
	if err != nil {
		fail(w, err)
		return
	}
	rev, n, err := s.ctrl.Save(path, peerOf(r).name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, types.SaveResult{Path: path, Revision: rev.N, Bytes: n})
}
