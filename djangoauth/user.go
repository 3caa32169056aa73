package djangoauth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
)

// userRow is what get_user needs from AUTH_USER_MODEL's row. password is
// never logged or cached.
type userRow struct {
	id          string
	username    string
	password    string
	active      bool
	staff       bool
	superuser   bool
	hasPassword bool
}

// userStore reads users as ModelBackend.get_user does:
// UserModel._default_manager.get(pk=user_id). A custom default manager
// that filters rows is not reproduced.
type userStore struct {
	db     *sqlDB
	query  string
	pkType string
	guess  pkGuess
}

// userColumns is how many columns query selects.
const userColumns = 6

// pkGuess predicts the next user looked up: on PostgreSQL the verdict
// sends that user's row query along with the session query, saving a round
// trip when the guess is right (dbRead.speculate). The guess is the last
// user looked up, made only while the last two lookups were of the same
// user (one user's many sockets, a reconnect storm), so that a site whose
// handshakes come from many users does not pay a wasted query each time.
type pkGuess struct {
	mu       sync.Mutex
	last     any
	repeated bool
}

// next returns the pk to speculate on, if any.
func (g *pkGuess) next() (any, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last, g.repeated
}

// record notes a lookup of pk (an int64 or a string).
func (g *pkGuess) record(pk any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.repeated = g.last != nil && sameArg(g.last, pk)
	g.last = pk
}

func newUserStore(db *sqlDB, u UserConfig) (*userStore, error) {
	for key, v := range map[string]string{
		"LAUREL_USER_TABLE": u.Table, "LAUREL_USER_PK_COLUMN": u.PKColumn,
		"LAUREL_USER_PASSWORD_COLUMN": u.PasswordColumn, "LAUREL_USER_USERNAME_COLUMN": u.UsernameColumn,
		"LAUREL_USER_ACTIVE_COLUMN": u.ActiveColumn, "LAUREL_USER_STAFF_COLUMN": u.StaffColumn,
		"LAUREL_USER_SUPERUSER_COLUMN": u.SuperuserColumn,
	} {
		if !validIdent(v) {
			return nil, fmt.Errorf("%w: %s %q is not a valid identifier", ErrSettings, key, v)
		}
	}
	switch u.PKType {
	case "int", "uuid", "str":
	default:
		return nil, fmt.Errorf("%w: LAUREL_USER_PK_TYPE must be int, uuid or str", ErrSettings)
	}
	col := func(name, absent string) string {
		if name == "-" {
			return absent
		}
		return db.quote(name)
	}
	pk := db.quote(u.PKColumn)
	cond := pk + " = " + db.param(1)
	if u.PKType == "int" && db.dialect == dialectPostgres {
		cond = pk + " = " + db.param(1) + "::bigint" // int4 columns compare with int8 params
	}
	q := fmt.Sprintf("SELECT %s, %s, %s, %s, %s, %s FROM %s WHERE %s",
		pk, col(u.UsernameColumn, "''"), col(u.PasswordColumn, "NULL"),
		col(u.ActiveColumn, "1"), col(u.StaffColumn, "0"), col(u.SuperuserColumn, "0"),
		db.quote(u.Table), cond)
	return &userStore{db: db, query: q, pkType: u.PKType}, nil
}

// get returns the user row, nil when it does not exist, or an error
// wrapping ErrStoreUnavailable.
func (s *userStore) get(ctx context.Context, rd *dbRead, pk any) (*userRow, error) {
	s.guess.record(pk)
	vals := rd.cols[:userColumns]
	err := rd.row(ctx, s.query, vals, pk)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	var (
		password              string
		hasPassword           bool
		active, staff, super  bool
		activeOK, staffOK, ok bool
	)
	if err == nil {
		password, hasPassword, err = textValue(vals[2])
	}
	if err == nil {
		active, activeOK, err = boolValue(vals[3])
	}
	if err == nil {
		staff, staffOK, err = boolValue(vals[4])
	}
	if err == nil {
		super, ok, err = boolValue(vals[5])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: user query: %s", ErrStoreUnavailable, redactErr(err))
	}
	r := &userRow{
		id:          s.formatPK(vals[0]),
		username:    asText(vals[1]),
		password:    password,
		hasPassword: hasPassword,
		active:      !activeOK || active,
		staff:       staffOK && staff,
		superuser:   ok && super,
	}
	return r, nil
}

func asText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case [16]byte:
		return formatUUID(x[:])
	}
	return fmt.Sprint(v)
}

// formatPK renders the pk as Django's str(user.pk).
func (s *userStore) formatPK(v any) string {
	t := asText(v)
	if s.pkType == "uuid" {
		if u, ok := parseUUID(t); ok {
			return formatUUID(u)
		}
	}
	return t
}

// errBadPK marks an _auth_user_id that pk.to_python rejects (Django raises
// ValidationError, i.e. a 500).
var errBadPK = fmt.Errorf("djangoauth: invalid _auth_user_id")

// errNoSuchPK marks a pk that cannot exist (out of the integer range: Django
// 5.0+ returns no rows for such lookups).
var errNoSuchPK = fmt.Errorf("djangoauth: _auth_user_id out of range")

// toPK converts the session's _auth_user_id as the pk field's to_python
// does and returns the query argument. nil (Python None) yields (nil, nil):
// get(pk=None) finds no user.
func (s *userStore) toPK(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch s.pkType {
	case "str":
		switch x := v.(type) {
		case string:
			return x, nil
		case bool:
			if x {
				return "True", nil
			}
			return "False", nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return pyFloatRepr(x, false), nil
		}
		return nil, errBadPK
	case "uuid":
		var u []byte
		switch x := v.(type) {
		case string:
			var ok bool
			if u, ok = parseUUID(x); !ok {
				return nil, errBadPK
			}
		case int64:
			if x < 0 {
				return nil, errBadPK
			}
			u = make([]byte, 16)
			new(big.Int).SetInt64(x).FillBytes(u)
		default:
			return nil, errBadPK
		}
		if s.db.dialect == dialectPostgres {
			return formatUUID(u), nil
		}
		return hex.EncodeToString(u), nil // char(32) on SQLite and MySQL
	}
	// int: Python int()
	var n *big.Int
	switch x := v.(type) {
	case string:
		if n, ok := plainDecimal(x); ok {
			return n, nil // what pyIntString gives for such text, without big.Int
		}
		var ok bool
		if n, ok = pyIntString(x); !ok {
			return nil, errBadPK
		}
	case int64:
		return x, nil
	case *big.Int:
		n = x
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errBadPK
		}
		n, _ = big.NewFloat(math.Trunc(x)).Int(nil)
	default:
		return nil, errBadPK
	}
	if !n.IsInt64() {
		return nil, errNoSuchPK
	}
	return n.Int64(), nil
}

// plainDecimal parses 1 to 18 ASCII digits (the usual "_auth_user_id"),
// which always fit an int64.
func plainDecimal(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseUUID is uuid.UUID(hex): "urn:" and "uuid:" removed, braces stripped,
// dashes removed, 32 hex digits.
func parseUUID(s string) ([]byte, bool) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "urn:", ""), "uuid:", "")
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	if len(h) != 32 {
		return h
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
