//go:build !linux

package mmaptrim

const supported = false

type statm struct{}

func openStatm() (*statm, error)            { return &statm{}, nil }
func (*statm) Close() error                 { return nil }
func (*statm) fileResident() (int64, error) { return 0, nil }

// Trim does nothing where /proc/self/maps does not exist.
func (t *Trimmer) Trim() (int64, error) { return 0, nil }
