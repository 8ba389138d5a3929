package control

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control/config"
)

// afterWrite, when set, runs between writing and syncing the temporary file
// and renaming it over the target: the crash-safety test kills the process
// there. Tests only.
var afterWrite func(tmp string)

// SaveFile writes t to path atomically, as YAML with keys revealed (the
// file is the source of truth the daemon starts from), mode 0600:
//
//  1. write a temporary file in the same directory (same filesystem, so
//     the rename is atomic),
//  2. fsync it, so its bytes are on disk before its name is,
//  3. rename it over path,
//  4. fsync the directory, so the rename itself survives a crash.
//
// A crash at any point leaves either the old file or the new one, never a
// mix; a leftover temporary file is removed by the next save. header, when
// not empty, is written first as YAML comment lines. It returns the number
// of bytes written.
func SaveFile(path string, t *config.Tree, header string) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return 0, fmt.Errorf("save %s: not a file name", path)
	}
	var body strings.Builder
	if header != "" {
		for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
			body.WriteString("# " + l + "\n")
		}
	}
	body.Write(t.YAML(config.Revealed))
	data := []byte(body.String())

	removeStale(dir, base)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("save %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) (int, error) {
		f.Close()
		os.Remove(tmp)
		return 0, fmt.Errorf("save %s: %w", path, err)
	}
	// CreateTemp makes the file 0600 already; say so for a umask-proof
	// guarantee, since the file holds keys.
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("save %s: %w", path, err)
	}
	if afterWrite != nil {
		afterWrite(tmp)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("save %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return len(data), fmt.Errorf("save %s: sync directory: %w", path, err)
	}
	return len(data), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeStale removes temporary files an interrupted save left behind.
func removeStale(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+base+".tmp-*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// Save writes the running configuration to path (SaveFile) and remembers
// its revision as saved. It returns the revision and the bytes written.
func (c *Controller) Save(path, who string) (rev *Revision, n int, err error) {
	rev = c.Running()
	header := fmt.Sprintf("sluice configuration, revision %d, saved by %s at %s\nkeys are in clear: keep this file mode 0600",
		rev.N, who, c.opts.Clock().UTC().Format(time.RFC3339))
	n, err = SaveFile(path, rev.Tree, header)
	if err != nil {
		return nil, 0, err
	}
	c.saved.Store(int64(rev.N))
	c.log.Info("configuration saved", "revision", rev.N, "who", who, "path", path, "bytes", n)
	return rev, n, nil
}

// Saved returns the revision last saved, or -1.
func (c *Controller) Saved() int { return int(c.saved.Load()) }
