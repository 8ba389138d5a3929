package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
	ct "github.com/sluicenet/sluice/control/controltest"
	"github.com/sluicenet/sluice/dataplane"
)

// FuzzRequest sends arbitrary methods, paths, queries and bodies to the
// router: it never panics, never answers 500, and every error is a JSON
// types.Error.
func FuzzRequest(f *testing.F) {
	c := control.NewController(dataplane.New(), control.Options{})
	tree, err := config.Parse([]byte(ct.LabYAML(1)), config.FormatAuto)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := c.Commit(tree, "fuzz", ""); err != nil {
		f.Fatal(err)
	}
	s := newServer(c, Options{MaxBody: 1 << 20, SavePath: f.TempDir() + "/sluice.yaml"})
	sess, err := s.sessions.Open("unknown")
	if err != nil {
		f.Fatal(err)
	}
	id := sess.ID
	for _, seed := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/config?format=yaml&path=firewall+name", ""},
		{"POST", "/v1/config/sessions/SESSION/set", `{"path":["firewall","name","X","rule","1","action","drop"]}`},
		{"POST", "/v1/config/sessions/SESSION/load", `{"text":"rule 10 {","path":["firewall","name","X"]}`},
		{"POST", "/v1/config/sessions/SESSION/merge", `{"text":"set x","format":"curly"}`},
		{"POST", "/v1/config/sessions/SESSION/commit-confirm", `{"minutes":-1}`},
		{"POST", "/v1/config/sessions/SESSION/rollback", `{"revision":1e99}`},
		{"POST", "/v1/clear", `{"scope":"ipsec-sa","name":"\u0000"}`},
		{"POST", "/v1/config/save", `{"path":"../../x"}`},
		{"DELETE", "/v1/config/sessions/nope", ""},
		{"GET", "/v1/firewall/%00", ""},
	} {
		f.Add(seed.method, seed.path, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n#") || strings.ContainsAny(method, " \r\n/") || method == "" {
			return
		}
		path = strings.ReplaceAll(path, "SESSION", id)
		req, err := http.NewRequest(method, "http://sluiced"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e types.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s: status %d with a body that is not an Error: %q", method, path, rec.Code, rec.Body)
			}
		}
	})
}
