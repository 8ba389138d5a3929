package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
)

// Compiled is a generator's config as the daemon would run it: parsed and
// validated by control/config and compiled by control's Builder, the same
// code sluiced uses, so a run measures the tables an operator gets from
// that YAML. Workers read Tables.
type Compiled struct {
	Tables  atomic.Pointer[dataplane.Tables]
	Builder *control.Builder
}

// Compile turns g's config into dataplane tables.
func Compile(g *gen.Generator) (*Compiled, error) {
	tree, err := config.Parse(g.Config(), config.FormatYAML)
	if err != nil {
		return nil, fmt.Errorf("generated config: %w", err)
	}
	cfg, err := tree.Config()
	if err != nil {
		return nil, fmt.Errorf("generated config: %w", err)
	}
	b := control.NewBuilder()
	plan, err := b.Prepare(cfg)
	if err != nil {
		return nil, fmt.Errorf("generated config: %w", err)
	}
	dp := dataplane.New()
	b.Apply(plan, dp)
	c := &Compiled{Builder: b}
	c.Tables.Store(dp.Tables())
	return c, nil
}

// CPUModel returns the "model name" of the first CPU in /proc/cpuinfo
// (what every report names), or GOARCH when there is none.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// ErrCounts is wrapped by a run whose dataplane counters disagree with what
// the generator sent.
var ErrCounts = errors.New("dataplane counters disagree with the generator")
