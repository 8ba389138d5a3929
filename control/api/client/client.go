// Package client talks to sluiced's local API (control/api) over its unix
// socket. It depends on the API's documents (control/api/types) and the
// standard library only, so the operator shell links neither the control
// plane nor the dataplane.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control/api/types"
)

// Client is an API client. Safe for concurrent use.
type Client struct {
	hc     *http.Client
	socket string
}

// New returns a client for the API socket at path.
func New(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{hc: &http.Client{Transport: tr}, socket: socket}
}

// Error is an answer with a status of 400 or more.
type Error struct {
	Status int
	Body   types.Error
}

// Error renders the summary and every problem on its own line:
// "path: reason" (with line:col when the problem came from text).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Body.Error)
	for _, p := range e.Body.Problems {
		b.WriteString("\n  ")
		if p.Line > 0 {
			fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Col)
		}
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Reason)
	}
	return b.String()
}

// IsStatus reports whether err is an API error with that status code.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// do sends a request with body (JSON-encoded unless nil) and decodes a
// JSON answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sluiced"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sluiced API at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, &e.Body) != nil || e.Body.Error == "" {
			e.Body.Error = resp.Status
		}
		return e
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	err := c.do(ctx, http.MethodGet, path, nil, &v)
	return v, err
}

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (types.Status, error) {
	return get[types.Status](ctx, c, "/v1/status")
}

// Interfaces returns GET /v1/interfaces.
func (c *Client) Interfaces(ctx context.Context) ([]types.Interface, error) {
	return get[[]types.Interface](ctx, c, "/v1/interfaces")
}

// Workers returns GET /v1/workers.
func (c *Client) Workers(ctx context.Context) ([]types.Worker, error) {
	return get[[]types.Worker](ctx, c, "/v1/workers")
}

// SAs returns GET /v1/ipsec/sa.
func (c *Client) SAs(ctx context.Context) ([]types.SA, error) {
	return get[[]types.SA](ctx, c, "/v1/ipsec/sa")
}

// L2TPTunnels returns GET /v1/l2tp/tunnels.
func (c *Client) L2TPTunnels(ctx context.Context) ([]types.L2TPTunnel, error) {
	return get[[]types.L2TPTunnel](ctx, c, "/v1/l2tp/tunnels")
}

// L2TPSessions returns GET /v1/l2tp/sessions.
func (c *Client) L2TPSessions(ctx context.Context) ([]types.L2TPSession, error) {
	return get[[]types.L2TPSession](ctx, c, "/v1/l2tp/sessions")
}

// Firewall returns GET /v1/firewall, or one ruleset when name is set.
func (c *Client) Firewall(ctx context.Context, name string) ([]types.RuleSet, error) {
	if name == "" {
		return get[[]types.RuleSet](ctx, c, "/v1/firewall")
	}
	rs, err := get[types.RuleSet](ctx, c, "/v1/firewall/"+url.PathEscape(name))
	if err != nil {
		return nil, err
	}
	return []types.RuleSet{rs}, nil
}

// Drops returns GET /v1/drops.
func (c *Client) Drops(ctx context.Context) (types.Drops, error) {
	return get[types.Drops](ctx, c, "/v1/drops")
}

// Stats returns GET /v1/stats, ARCHITECTURE.md's stats document, as JSON.
func (c *Client) Stats(ctx context.Context) (json.RawMessage, error) {
	return get[json.RawMessage](ctx, c, "/v1/stats")
}

// Clear zeroes the counters of scope (types.Clear*) as the API and shell
// show them; name narrows it to one object.
func (c *Client) Clear(ctx context.Context, scope, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/clear", types.ClearRequest{Scope: scope, Name: name}, nil)
}

func configQuery(format string, path []string) string {
	q := url.Values{}
	if format != "" {
		q.Set("format", format)
	}
	if len(path) > 0 {
		q.Set("path", strings.Join(path, " "))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Running returns the running configuration (or its subtree at path) in
// format: curly (default), yaml, commands or json. Keys are redacted.
func (c *Client) Running(ctx context.Context, format string, path []string) (types.Config, error) {
	return get[types.Config](ctx, c, "/v1/config"+configQuery(format, path))
}

// History returns the committed revisions kept for rollback, oldest first.
func (c *Client) History(ctx context.Context) ([]types.Revision, error) {
	return get[[]types.Revision](ctx, c, "/v1/config/history")
}

// Save writes the running configuration to the daemon's file (path "") or
// to a file in its directory.
func (c *Client) Save(ctx context.Context, path string) (types.SaveResult, error) {
	var out types.SaveResult
	err := c.do(ctx, http.MethodPost, "/v1/config/save", types.SaveRequest{Path: path}, &out)
	return out, err
}

// Confirm keeps a pending commit-confirm.
func (c *Client) Confirm(ctx context.Context) (types.CommitResult, error) {
	var out types.CommitResult
	err := c.do(ctx, http.MethodPost, "/v1/config/confirm", struct{}{}, &out)
	return out, err
}

// Sessions lists the open configuration sessions.
func (c *Client) Sessions(ctx context.Context) ([]types.Session, error) {
	return get[[]types.Session](ctx, c, "/v1/config/sessions")
}

// Session is a configuration session: one candidate configuration.
type Session struct {
	c  *Client
	ID string
}

// Open starts a configuration session.
func (c *Client) Open(ctx context.Context) (*Session, error) {
	var info types.Session
	if err := c.do(ctx, http.MethodPost, "/v1/config/sessions", struct{}{}, &info); err != nil {
		return nil, err
	}
	return &Session{c: c, ID: info.ID}, nil
}

func (s *Session) path(op string) string {
	p := "/v1/config/sessions/" + url.PathEscape(s.ID)
	if op != "" {
		p += "/" + op
	}
	return p
}

func (s *Session) post(ctx context.Context, op string, body, out any) error {
	return s.c.do(ctx, http.MethodPost, s.path(op), body, out)
}

// Close ends the session, dropping its candidate.
func (s *Session) Close(ctx context.Context) error {
	return s.c.do(ctx, http.MethodDelete, s.path(""), nil, nil)
}

// Info describes the session (changed, stale, base).
func (s *Session) Info(ctx context.Context) (types.Session, error) {
	var out []types.Session
	if err := s.c.do(ctx, http.MethodGet, "/v1/config/sessions", nil, &out); err != nil {
		return types.Session{}, err
	}
	for _, i := range out {
		if i.ID == s.ID {
			return i, nil
		}
	}
	return types.Session{}, &Error{Status: http.StatusNotFound, Body: types.Error{Error: "configuration session closed"}}
}

// Show returns the candidate (or its subtree at path) in format.
func (s *Session) Show(ctx context.Context, format string, path []string) (types.Config, error) {
	return get[types.Config](ctx, s.c, s.path("")+configQuery(format, path))
}

// Set applies a `set` path to the candidate.
func (s *Session) Set(ctx context.Context, path []string) (types.Session, error) {
	var out types.Session
	err := s.post(ctx, "set", types.PathRequest{Path: path}, &out)
	return out, err
}

// Delete applies a `delete` path to the candidate.
func (s *Session) Delete(ctx context.Context, path []string) (types.Session, error) {
	var out types.Session
	err := s.post(ctx, "delete", types.PathRequest{Path: path}, &out)
	return out, err
}

// Compare returns what a commit would change, as "-/+ set ..." lines.
func (s *Session) Compare(ctx context.Context) (types.Compare, error) {
	return get[types.Compare](ctx, s.c, s.path("compare"))
}

// Commit commits the candidate.
func (s *Session) Commit(ctx context.Context, comment string) (types.CommitResult, error) {
	var out types.CommitResult
	err := s.post(ctx, "commit", types.CommitRequest{Comment: comment}, &out)
	return out, err
}

// CommitConfirm commits the candidate, to be rolled back unless confirmed
// within d (whole seconds).
func (s *Session) CommitConfirm(ctx context.Context, comment string, d time.Duration) (types.CommitResult, error) {
	var out types.CommitResult
	req := types.CommitConfirmRequest{Comment: comment, Minutes: int(d / time.Minute), Seconds: int(d % time.Minute / time.Second)}
	err := s.post(ctx, "commit-confirm", req, &out)
	return out, err
}

// Discard throws the candidate's changes away.
func (s *Session) Discard(ctx context.Context) error {
	return s.post(ctx, "discard", struct{}{}, nil)
}

// Load replaces the candidate (path empty) or its subtree at path with
// text (YAML, curly or set commands; format "" detects).
func (s *Session) Load(ctx context.Context, path []string, text, format string) (types.Session, error) {
	var out types.Session
	err := s.post(ctx, "load", types.LoadRequest{Text: text, Format: format, Path: path}, &out)
	return out, err
}

// Merge merges text into the candidate at path.
func (s *Session) Merge(ctx context.Context, path []string, text, format string) (types.Session, error) {
	var out types.Session
	err := s.post(ctx, "merge", types.LoadRequest{Text: text, Format: format, Path: path}, &out)
	return out, err
}

// Rollback commits kept revision n again.
func (s *Session) Rollback(ctx context.Context, n int) (types.CommitResult, error) {
	var out types.CommitResult
	err := s.post(ctx, "rollback", types.RollbackRequest{Revision: n}, &out)
	return out, err
}

// Rebase replays the candidate's changes on the running configuration.
func (s *Session) Rebase(ctx context.Context) (types.Compare, error) {
	var out types.Compare
	err := s.post(ctx, "rebase", struct{}{}, &out)
	return out, err
}
