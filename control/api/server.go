// Package api is sluice's local API: HTTP+JSON on a unix socket, versioned
// under /v1/, the interface of the operator shell (cmd/sluice) and of
// automation. The documents are in control/api/types, the client in
// control/api/client, the description in openapi.yaml (a test keeps it and
// the router in step).
//
// Data flow: a request names an operational view (status, interfaces, SAs,
// ...), served from control.Controller's views, which read atomics and
// immutable maps and so never wait for a commit or touch a worker; or a
// configuration operation on an operator session (control.Sessions), whose
// commit goes through Controller.CommitIf.
//
//	shell ──HTTP/unix socket──► Server ──► Controller views ──► worker counters (read only)
//	                               └─────► Sessions ──► Controller.CommitIf ──► dataplane.Publish
//
// Who is making a request comes from the socket itself (SO_PEERCRED), not
// from anything the client says: the commit history records it. The socket
// is mode 0660; its group is the operators. Keys never leave the daemon
// through the API: every configuration rendering is redacted, and the only
// Revealed rendering is `save`, which the daemon writes itself.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sluicenet/sluice/control"
)

// Options configure a Server.
type Options struct {
	// Socket is the unix socket path (default /run/sluice/sluice.sock,
	// the schema's api.socket default). Its directory is created 0750 if
	// missing.
	Socket string
	// Group owns the socket (a group name or gid); "" keeps the daemon's.
	Group string
	// Logger logs requests at debug level and failures; nil discards.
	Logger *slog.Logger
	// SavePath is the configuration file `save` writes by default; `save
	// FILE` may only name a file in the same directory. Empty disables
	// save without a path... and with one.
	SavePath string
	// SessionIdle closes configuration sessions unused this long (default
	// 24h); MaxSessions bounds how many are open (default 64).
	SessionIdle time.Duration
	MaxSessions int
	// MaxBody bounds a request body (default 64 MiB, config.MaxText).
	MaxBody int64
}

// DefaultSocket is the socket path used when Options.Socket is empty.
const DefaultSocket = "/run/sluice/sluice.sock"

// Server serves the API for one controller.
type Server struct {
	ctrl     *control.Controller
	sessions *control.Sessions
	opts     Options
	log      *slog.Logger
	http     *http.Server
	ln       *net.UnixListener
	mux      *http.ServeMux
	handler  http.Handler
	once     sync.Once
}

type ctxKey struct{}

// peer is who is at the other end of a connection.
type peer struct {
	uid   int
	known bool
	name  string
}

// NewServer creates the socket (see Options) and returns a server ready to
// Serve. On error nothing is left behind.
func NewServer(ctrl *control.Controller, opts Options) (*Server, error) {
	if opts.Socket == "" {
		opts.Socket = DefaultSocket
	}
	s := newServer(ctrl, opts)
	ln, err := listen(opts.Socket, opts.Group)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	return s, nil
}

// newServer builds the handler without a socket (tests of the router).
func newServer(ctrl *control.Controller, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 20
	}
	s := &Server{
		ctrl:     ctrl,
		sessions: control.NewSessions(ctrl, control.SessionOptions{Idle: opts.SessionIdle, Max: opts.MaxSessions}),
		opts:     opts,
		log:      opts.Logger,
		mux:      http.NewServeMux(),
	}
	paths := http.NewServeMux() // every path, any method: tells 405 from 404
	seen := map[string]bool{}
	for _, r := range routes {
		s.mux.HandleFunc(r.Method+" "+r.Path, s.wrap(r))
		if !seen[r.Path] {
			paths.HandleFunc(r.Path, http.NotFound)
			seen[r.Path] = true
		}
	}
	// ServeMux answers unknown paths and methods in plain text; the API
	// answers every error with a JSON body.
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern != "" {
			s.mux.ServeHTTP(w, r)
			return
		}
		if _, pattern := paths.Handler(r); pattern != "" {
			writeError(w, http.StatusMethodNotAllowed, errors.New("method "+r.Method+" not allowed on "+r.URL.Path), nil)
			return
		}
		writeError(w, http.StatusNotFound, errors.New("no such endpoint: "+r.URL.Path+" (see openapi.yaml)"), nil)
	})
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			p := peer{}
			if uid, ok := peerCred(c); ok {
				p = peer{uid: uid, known: true, name: userName(uid)}
			} else {
				p.name = "unknown"
			}
			return context.WithValue(ctx, ctxKey{}, p)
		},
	}
	return s
}

// Serve accepts connections until Close; it returns nil after Close.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting, waits up to five seconds for requests in flight,
// and removes the socket.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.http.Shutdown(ctx)
		if s.ln != nil {
			s.ln.Close()
			os.Remove(s.opts.Socket)
		}
	})
	return err
}

// Handler returns the router, for tests and for serving on another
// listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Sessions returns the server's configuration sessions.
func (s *Server) Sessions() *control.Sessions { return s.sessions }

func peerOf(r *http.Request) peer {
	p, _ := r.Context().Value(ctxKey{}).(peer)
	if p.name == "" {
		p.name = "unknown"
	}
	return p
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) wrap(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBody)
		rt.Handle(s, sw, r)
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "api request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"who", peerOf(r).name, "took", time.Since(start))
	}
}
