package djangoauth

import (
	"errors"
	"math/big"
	"testing"
)

// TestToPK: pk.to_python as Django's AutoField (int()), UUIDField and
// CharField apply it to _auth_user_id.
func TestToPK(t *testing.T) {
	t.Parallel()
	huge, _ := new(big.Int).SetString("99999999999999999999", 10)
	sqlite := &sqlDB{dialect: dialectSQLite}
	pg := &sqlDB{dialect: dialectPostgres}
	tests := []struct {
		name    string
		s       *userStore
		in      any
		want    any
		wantErr error
	}{
		{"int str", &userStore{db: sqlite, pkType: "int"}, "42", int64(42), nil},
		{"int leading zeros", &userStore{db: sqlite, pkType: "int"}, "007", int64(7), nil},
		{"int 18 digits", &userStore{db: sqlite, pkType: "int"}, "999999999999999999", int64(999999999999999999), nil},
		{"int 19 digits", &userStore{db: sqlite, pkType: "int"}, "9223372036854775807", int64(9223372036854775807), nil},
		{"int empty", &userStore{db: sqlite, pkType: "int"}, "", nil, errBadPK},
		{"int spaced", &userStore{db: sqlite, pkType: "int"}, " 7\n", int64(7), nil},
		{"int underscore", &userStore{db: sqlite, pkType: "int"}, "1_0", int64(10), nil},
		{"int json number", &userStore{db: sqlite, pkType: "int"}, int64(3), int64(3), nil},
		{"int float truncates", &userStore{db: sqlite, pkType: "int"}, 2.9, int64(2), nil},
		{"int bool", &userStore{db: sqlite, pkType: "int"}, true, int64(1), nil},
		{"int none", &userStore{db: sqlite, pkType: "int"}, nil, nil, nil},
		{"int garbage", &userStore{db: sqlite, pkType: "int"}, "abc", nil, errBadPK},
		{"int list", &userStore{db: sqlite, pkType: "int"}, []any{"1"}, nil, errBadPK},
		{"int huge", &userStore{db: sqlite, pkType: "int"}, huge.String(), nil, errNoSuchPK},
		{"int huge big", &userStore{db: sqlite, pkType: "int"}, huge, nil, errNoSuchPK},
		{"uuid sqlite", &userStore{db: sqlite, pkType: "uuid"}, "{12345678-1234-5678-1234-567812345678}", "12345678123456781234567812345678", nil},
		{"uuid pg", &userStore{db: pg, pkType: "uuid"}, "urn:uuid:12345678123456781234567812345678", "12345678-1234-5678-1234-567812345678", nil},
		{"uuid bad", &userStore{db: pg, pkType: "uuid"}, "1234", nil, errBadPK},
		{"str", &userStore{db: sqlite, pkType: "str"}, "alice", "alice", nil},
		{"str from int", &userStore{db: sqlite, pkType: "str"}, int64(5), "5", nil},
	}
	for _, tc := range tests {
		got, err := tc.s.toPK(tc.in)
		if !errors.Is(err, tc.wantErr) || (err == nil && got != tc.want) {
			t.Errorf("%s: toPK(%v) = %v, %v; want %v, %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// plainDecimal, toPK's short path, agrees with pyIntString wherever it
// answers.
func TestPlainDecimalMatchesPyInt(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0", "1", "00", "42", "000000000000000001", "999999999999999999", "123456789012345678",
		"1234567890123456789", "", "-1", "+1", " 1", "1_0", "١", "1a"} {
		n, ok := plainDecimal(s)
		if !ok {
			continue
		}
		b, pok := pyIntString(s)
		if !pok || !b.IsInt64() || b.Int64() != n {
			t.Errorf("%q: plainDecimal %d, pyIntString %v %v", s, n, b, pok)
		}
	}
}

func TestUserTableForModel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"auth.User": "auth_user", "accounts.Member": "accounts_member", "laurelaccounts.MyUser": "laurelaccounts_myuser"} {
		if got, err := UserTableForModel(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	for _, bad := range []string{"User", ".User", "app.", "a.b.C"} {
		if _, err := UserTableForModel(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
