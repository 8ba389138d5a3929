package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
)

// Errors the handlers return for bad requests.
var (
	errBadJSON = errors.New("request body is not the JSON this endpoint takes")
	errNoSave  = errors.New("this daemon has no configuration file to save to")
)

// badRequest marks an error as the client's fault (400).
type badRequest struct{ err error }

func (e badRequest) Error() string { return e.err.Error() }
func (e badRequest) Unwrap() error { return e.err }

// invalid marks a configuration the whole-tree validation refused (422).
type invalid struct{ err error }

func (e invalid) Error() string { return e.err.Error() }
func (e invalid) Unwrap() error { return e.err }

// statusOf maps an error to its HTTP status code.
func statusOf(err error) int {
	var br badRequest
	var inv invalid
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &inv):
		return http.StatusUnprocessableEntity
	case errors.Is(err, control.ErrConflict), errors.Is(err, control.ErrUncommitted), errors.Is(err, control.ErrNothingToConfirm):
		return http.StatusConflict
	case errors.Is(err, control.ErrNoSession), errors.Is(err, control.ErrUnknownRevision),
		errors.Is(err, control.ErrUnknownName), errors.Is(err, config.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, control.ErrTooManySessions):
		return http.StatusTooManyRequests
	case errors.As(err, &br), errors.Is(err, control.ErrBadScope), errors.Is(err, control.ErrClearAllNamed), errors.Is(err, config.ErrUnknownNode),
		errors.Is(err, config.ErrSyntax), len(config.PathErrors(err)) > 0:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// problems lists every problem in err: each config.PathError with its path
// and position, and any other error of a join with an empty path.
func problems(err error) []types.Problem {
	var out []types.Problem
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var pe *config.PathError
		if p, ok := err.(*config.PathError); ok {
			pe = p
		}
		if pe != nil {
			reason := ""
			if pe.Err != nil {
				reason = pe.Err.Error()
			}
			out = append(out, types.Problem{Path: strings.Join(pe.Path, " "), Reason: reason, Line: pe.Line, Col: pe.Col})
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if len(config.PathErrors(err)) > 0 {
			walk(errors.Unwrap(err))
			return
		}
		out = append(out, types.Problem{Reason: err.Error()})
	}
	walk(err)
	return out
}

// writeError answers with types.Error. Configuration errors carry every
// problem; a single plain error carries none. extra, when set, replaces
// the summary line.
func writeError(w http.ResponseWriter, status int, err error, extra *string) {
	body := types.Error{Error: err.Error()}
	if ps := problems(err); len(ps) > 1 || (len(ps) == 1 && ps[0].Path != "") {
		body.Problems = ps
		if len(ps) > 1 {
			body.Error = summary(status, len(ps))
		}
	}
	if extra != nil {
		body.Error = *extra
	}
	writeJSON(w, status, body)
}

func summary(status, n int) string {
	what := "request refused"
	if status == http.StatusUnprocessableEntity {
		what = "configuration refused"
	}
	return what + ": " + plural(n, "problem")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return itoa(n) + " " + word + "s"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

// fail answers with err's status.
func fail(w http.ResponseWriter, err error) { writeError(w, statusOf(err), err, nil) }

// decode reads a JSON body into v, refusing unknown fields. An empty body
// is an empty object.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		return badRequest{fmt.Errorf("%w: %v", errBadJSON, err)}
	}
	return nil
}
