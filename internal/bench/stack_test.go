package bench

import (
	"errors"
	"slices"
	"testing"
)

func TestStackArgsGroupMembership(t *testing.T) {
	t.Parallel()
	const flag = "--laurel-arg=--group-membership=process"
	base := StackOptions{Root: "/r", DB: "sqlite", LaurelBin: "/bin/laurel", LaurelProcs: 1, Backend: BackendCore,
		LaurelArgs: []string{"--pprof"}}
	for _, tc := range []struct {
		membership string
		want       bool
	}{{MembershipSocket, false}, {MembershipProcess, true}} {
		o := base
		o.GroupMembership = tc.membership
		args, err := o.stackArgs()
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(args, flag); got != tc.want {
			t.Errorf("%s: %s in %v is %v, want %v", tc.membership, flag, args, got, tc.want)
		}
		if !slices.Contains(args, "--laurel-arg=--pprof") {
			t.Errorf("%s: the other laurel arguments are lost: %v", tc.membership, args)
		}
	}
	if len(base.LaurelArgs) != 1 {
		t.Errorf("stackArgs changed the caller's LaurelArgs: %v", base.LaurelArgs)
	}
	o := base
	o.GroupMembership = "group"
	if _, err := o.stackArgs(); !errors.Is(err, ErrStack) {
		t.Errorf("unknown mode: %v, want ErrStack", err)
	}
}
