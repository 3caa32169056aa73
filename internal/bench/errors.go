package bench

import "errors"

// ErrStack reports that the benchmark stack (stack.py) failed to start.
var ErrStack = errors.New("bench: stack failed")
