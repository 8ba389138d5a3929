package control

import (
	"fmt"
	"os"

	"github.com/sluicenet/sluice/control/config"
)

// LoadFile reads and validates a configuration file (YAML, curly or set
// commands, detected). Errors name the file, and every problem its path.
func LoadFile(path string) (*config.Tree, *config.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tree, err := config.Load(f, config.FormatAuto)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := tree.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return tree, cfg, nil
}
