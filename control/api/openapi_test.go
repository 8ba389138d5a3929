package api

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicenet/sluice/control/api/types"
)

type openAPIDoc struct {
	OpenAPI    string                                 `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node        `yaml:"paths"`
	Components struct{ Schemas map[string]yaml.Node } `yaml:"components"`
}

func loadOpenAPI(t *testing.T) (*openAPIDoc, []byte) {
	t.Helper()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	return &doc, data
}

// TestOpenAPIMatchesRouter: every route the server registers is described
// in openapi.yaml, and every operation described there is served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "delete", "patch":
				described[strings.ToUpper(method)+" "+path] = true
			case "parameters", "summary", "description":
			default:
				t.Errorf("openapi.yaml %s: unknown key %q", path, method)
			}
		}
	}
	served := map[string]bool{}
	for _, r := range Routes() {
		k := r.Method + " " + r.Path
		if served[k] {
			t.Errorf("route %s registered twice", k)
		}
		served[k] = true
		if !described[k] {
			t.Errorf("route %s is not in openapi.yaml", k)
		}
	}
	for k := range described {
		if !served[k] {
			t.Errorf("openapi.yaml describes %s, which the server does not serve", k)
		}
	}
	if len(served) < 25 {
		t.Fatalf("only %d routes", len(served))
	}
}

// TestOpenAPISchemasMatchTypes: each documented schema has exactly the JSON
// fields of the Go type the server encodes, and every $ref resolves.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc, raw := loadOpenAPI(t)
	for _, v := range []any{types.Status{}, types.PendingConfirm{}, types.PortStats{}, types.Interface{}, types.Worker{},
		types.SA{}, types.SALifetime{}, types.RuleSet{}, types.Rule{}, types.DropCount{}, types.Drops{}, types.L2TPTunnel{},
		types.L2TPControl{}, types.L2TPSession{}, types.Revision{}, types.Config{}, types.Session{}, types.PathRequest{}, types.CommitRequest{},
		types.CommitConfirmRequest{}, types.CommitResult{}, types.LoadRequest{}, types.RollbackRequest{}, types.SaveRequest{},
		types.SaveResult{}, types.Compare{}, types.ClearRequest{}, types.Error{}, types.Problem{}} {
		rt := reflect.TypeOf(v)
		node, ok := doc.Components.Schemas[rt.Name()]
		if !ok {
			t.Errorf("no schema %s", rt.Name())
			continue
		}
		var sch struct{ Properties map[string]any }
		if err := node.Decode(&sch); err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for i := 0; i < rt.NumField(); i++ {
			want = append(want, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
		for p := range sch.Properties {
			got = append(got, p)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(want, " ") != strings.Join(got, " ") {
			t.Errorf("schema %s has properties %v, the type encodes %v", rt.Name(), got, want)
		}
	}
	for _, line := range strings.Split(string(raw), "\n") {
		i := strings.Index(line, `"#/components/`)
		if i < 0 {
			continue
		}
		ref := line[i+len(`"#/components/`):]
		ref = ref[:strings.IndexByte(ref, '"')]
		kind, name, _ := strings.Cut(ref, "/")
		if kind == "schemas" {
			if _, ok := doc.Components.Schemas[name]; !ok {
				t.Errorf("$ref to missing schema %s", name)
			}
		}
	}
}
