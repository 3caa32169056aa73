package bench

import "errors"

// ErrStack reports that the benchmark stack (stack.py) failed to start.
var ErrStack = errors.New("bench: stack failed")

// ErrStormProcess reports a connect storm asked of laurel in process mode
// (Runner.Storm), which cannot time it exactly.
var ErrStormProcess = errors.New("bench: a connect storm is timed by its memberships in Redis, which laurel's process mode does not keep per socket")
