package bench

import (
	"errors"

	"github.com/gorilla/websocket"
)

// ErrStack reports that the benchmark stack (stack.py) failed to start.
var ErrStack = errors.New("bench: stack failed")

func asCloseError(err error, ce **websocket.CloseError) bool { return errors.As(err, ce) }
