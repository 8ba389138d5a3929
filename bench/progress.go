package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar on a terminal: steps done of
// total, the current scenario, and the time elapsed. It draws nothing
// unless its writer is a terminal (IsTerminal), so redirected stderr and
// CI logs stay clean. Safe for concurrent use.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	total int
	done  int
	label string
	start time.Time
	last  time.Time
}

// NewProgress returns a bar over total steps on f, drawn only when f is a
// terminal.
func NewProgress(f *os.File, total int) *Progress {
	return &Progress{w: f, on: IsTerminal(f), total: total, start: time.Now()}
}

// SetLabel names what runs now.
func (p *Progress) SetLabel(s string) {
	p.mu.Lock()
	p.label = s
	p.drawLocked(true)
	p.mu.Unlock()
}

// Step marks one step done.
func (p *Progress) Step() {
	p.mu.Lock()
	p.done++
	p.drawLocked(false)
	p.mu.Unlock()
}

// Done erases the bar.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.on = false
}

const barWidth = 30

func (p *Progress) drawLocked(force bool) {
	if !p.on || !force && time.Since(p.last) < 50*time.Millisecond && p.done < p.total {
		return
	}
	p.last = time.Now()
	frac := 0.0
	if p.total > 0 {
		frac = float64(min(p.done, p.total)) / float64(p.total)
	}
	n := int(frac * barWidth)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% %s %s", strings.Repeat("#", n), strings.Repeat(".", barWidth-n),
		frac*100, time.Since(p.start).Truncate(time.Second), p.label)
}
