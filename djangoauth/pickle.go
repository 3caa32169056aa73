package djangoauth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// ErrBadPickle reports a cached session value that is not a pickle laurel
// accepts: malformed, too large, or referring to a global outside the
// allowlist (see DecodePickle).
var ErrBadPickle = errors.New("djangoauth: bad pickle")

// maxPickle bounds the size of a pickled session laurel decodes.
const maxPickle = 4 << 20

// maxDepth bounds the nesting of decoded containers (and breaks cycles).
const maxDepth = 64

// PyObject stands for an instance of an allowlisted Python class found in a
// pickled session (a datetime, Decimal, UUID, set...). laurel never needs
// such values; it keeps only the class name.
type PyObject struct {
	// Class is "module.Name", e.g. "datetime.datetime".
	Class string
}

// Call implements gopickle's types.Callable (REDUCE).
func (o PyObject) Call(...any) (any, error) { return o, nil }

// PyNew implements gopickle's types.PyNewable (NEWOBJ).
func (o PyObject) PyNew(...any) (any, error) { return o, nil }

// allowedGlobals are the classes a session dict may reference. Anything
// else (os.system, builtins.eval, application classes) is rejected: the
// session is treated as undecodable.
var allowedGlobals = map[string]bool{
	"datetime.datetime": true, "datetime.date": true, "datetime.time": true,
	"datetime.timedelta": true, "datetime.timezone": true,
	"decimal.Decimal": true, "uuid.UUID": true,
	"builtins.set": true, "builtins.frozenset": true, "builtins.bytearray": true,
	"builtins.complex": true, "collections.OrderedDict": true,
	"__builtin__.set": true, "__builtin__.frozenset": true, "__builtin__.bytearray": true,
	"copyreg._reconstructor": true, "builtins.object": true,
	"django.utils.timezone.utc": true, "zoneinfo.ZoneInfo": true,
	"zoneinfo._common._load_timezone": true,
}

type pyState struct{ PyObject }

// PySetState implements gopickle's types.PyStateSettable (BUILD).
func (o *pyState) PySetState(any) error { return nil }

func findClass(module, name string) (any, error) {
	if !allowedGlobals[module+"."+name] {
		return nil, fmt.Errorf("%w: global %s.%s not allowed", ErrBadPickle, module, name)
	}
	return pyClass{PyObject{Class: module + "." + name}}, nil
}

type pyClass struct{ PyObject }

func (c pyClass) Call(...any) (any, error)  { return &pyState{c.PyObject}, nil }
func (c pyClass) PyNew(...any) (any, error) { return &pyState{c.PyObject}, nil }

// DecodePickle decodes a pickle (protocols 0-5) as Python's pickle.loads
// would, with gopickle, into Go values: dict → map[string]any (non-string
// keys are dropped), list and tuple → []any, str → string, bytes and
// bytearray → []byte, int → int64 or *big.Int, float → float64, bool, None
// → nil, instances of allowlisted classes → PyObject. A global outside the
// allowlist, persistent ids, extension codes, out-of-band buffers, a
// length field pointing past the input and nesting beyond 64 levels are
// rejected with an error wrapping ErrBadPickle. It never panics.
func DecodePickle(data []byte) (v any, err error) {
	if len(data) > maxPickle {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadPickle, len(data))
	}
	if err := prescanPickle(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: malformed", ErrBadPickle)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = findClass
	raw, err := u.Load()
	if err != nil {
		if errors.Is(err, ErrBadPickle) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrBadPickle, err)
	}
	return fromPickle(raw, 0)
}

func fromPickle(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested too deeply", ErrBadPickle)
	}
	switch x := v.(type) {
	case nil, bool, string, float64, []byte:
		return x, nil
	case int:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
		return x, nil
	case *types.Dict:
		m := make(map[string]any, len(*x))
		for _, e := range *x {
			k, ok := e.Key.(string)
			if !ok {
				continue
			}
			ev, err := fromPickle(e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = ev
		}
		return m, nil
	case *types.OrderedDict:
		m := make(map[string]any, x.Len())
		for el := x.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			k, ok := e.Key.(string)
			if !ok {
				continue
			}
			ev, err := fromPickle(e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = ev
		}
		return m, nil
	case *types.List:
		return fromSeq(*x, depth)
	case *types.Tuple:
		return fromSeq(*x, depth)
	case *types.ByteArray:
		return []byte(*x), nil
	case *types.Set:
		return PyObject{Class: "builtins.set"}, nil
	case *types.FrozenSet:
		return PyObject{Class: "builtins.frozenset"}, nil
	case *pyState:
		return x.PyObject, nil
	case pyClass:
		return x.PyObject, nil
	case PyObject:
		return x, nil
	}
	return nil, fmt.Errorf("%w: unsupported value %T", ErrBadPickle, v)
}

func fromSeq(s []any, depth int) (any, error) {
	out := make([]any, len(s))
	for i, e := range s {
		v, err := fromPickle(e, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// prescanPickle walks the opcode stream as pickletools.genops does and
// rejects unknown opcodes and length fields larger than the input, so the
// decoder never allocates more than the input size. It also rejects a memo
// read of an index never stored, where Python raises (gopickle would push
// None).
func prescanPickle(d []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrBadPickle, what) }
	memo := map[uint64]bool{}
	get := func(idx uint64) error {
		if !memo[idx] {
			return bad("memo index not stored")
		}
		return nil
	}
	i := 0
	need := func(n uint64) bool { return uint64(len(d)-i) >= n } //nolint:gosec // 0 <= i <= len(d)
	for i < len(d) {
		op := d[i]
		i++
		switch op {
		case '.':
			return nil
		case 0x94: // MEMOIZE stores at len(memo)
			memo[uint64(len(memo))] = true
		case '(', '0', '1', '2', 'N', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93:
		case 'K', 'h', 'q', 0x80:
			if !need(1) {
				return bad("truncated")
			}
			switch op {
			case 'h':
				if err := get(uint64(d[i])); err != nil {
					return err
				}
			case 'q':
				memo[uint64(d[i])] = true
			}
			i++
		case 'M':
			if !need(2) {
				return bad("truncated")
			}
			i += 2
		case 'J', 'j', 'r':
			if !need(4) {
				return bad("truncated")
			}
			idx := uint64(binary.LittleEndian.Uint32(d[i:]))
			switch op {
			case 'j':
				if err := get(idx); err != nil {
					return err
				}
			case 'r':
				memo[idx] = true
			}
			i += 4
		case 'G':
			if !need(8) {
				return bad("truncated")
			}
			i += 8
		case 'U', 0x8c, 'C', 0x8a:
			if !need(1) {
				return bad("truncated")
			}
			n := uint64(d[i])
			i++
			if op == 0x8a && n == 0 {
				return bad("empty LONG1") // gopickle cannot decode it
			}
			if !need(n) {
				return bad("length past end")
			}
			i += int(n) //nolint:gosec // n <= len(d)-i, checked by need
		case 'T', 'X', 'B', 0x8b:
			if !need(4) {
				return bad("truncated")
			}
			n := uint64(binary.LittleEndian.Uint32(d[i:]))
			i += 4
			if n&0x80000000 != 0 || (op == 0x8b && n == 0) {
				return bad("bad length")
			}
			if !need(n) {
				return bad("length past end")
			}
			i += int(n) //nolint:gosec // n <= len(d)-i, checked by need
		case 0x8d, 0x8e, 0x96:
			if !need(8) {
				return bad("truncated")
			}
			n := binary.LittleEndian.Uint64(d[i:])
			i += 8
			if !need(n) {
				return bad("length past end")
			}
			i += int(n) //nolint:gosec // n <= len(d)-i, checked by need
		case 0x95: // FRAME: the frame covers the following bytes
			if !need(8) {
				return bad("truncated")
			}
			n := binary.LittleEndian.Uint64(d[i:])
			i += 8
			if !need(n) {
				return bad("frame past end")
			}
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p':
			j := bytes.IndexByte(d[i:], '\n')
			if j < 0 {
				return bad("unterminated line")
			}
			if op == 'g' || op == 'p' {
				idx, err := strconv.ParseUint(string(d[i:i+j]), 10, 63)
				if err != nil {
					return bad("bad memo index")
				}
				if op == 'g' {
					if err := get(idx); err != nil {
						return err
					}
				} else {
					memo[idx] = true
				}
			}
			i += j + 1
		case 'c', 'i':
			for range 2 {
				j := bytes.IndexByte(d[i:], '\n')
				if j < 0 {
					return bad("unterminated line")
				}
				i += j + 1
			}
		default: // persistent ids, extensions, buffers and unknown opcodes
			return bad(fmt.Sprintf("opcode 0x%02x not supported", op))
		}
	}
	return bad("no STOP")
}
