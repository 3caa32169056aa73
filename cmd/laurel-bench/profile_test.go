package main

import (
	"strings"
	"testing"
)

func TestSummarizeProfile(t *testing.T) {
	t.Parallel()
	top := `File: laurel
Build ID: x
Type: cpu
Duration: 5s, Total samples = 2.76s (55.20%)
Showing nodes accounting for 1.58s, 57.25% of 2.76s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      2.22s 80.43%  net/http.(*conn).serve
         0     0%     0%      2.01s 72.83%  net/http.HandlerFunc.ServeHTTP
         0     0%     0%      2.01s 72.83%  github.com/laurel-server/laurel/consumer.(*Server).ServeHTTP
     0.50s 18.12% 18.12%      0.50s 18.12%  internal/runtime/syscall/linux.Syscall6
         0     0%     0%      0.43s 15.58%  modernc.org/sqlite.(*conn).newStmtContext
         0     0%     0%      0.40s 14.00%  github.com/laurel-server/laurel/djangoauth.(*Authenticator).compute
`
	got := summarizeProfile(top, 3)
	want := `Duration: 5s, Total samples = 2.76s (55.20%)
      flat  flat%   sum%        cum   cum%
         0     0%     0%      2.22s 80.43%  net/http.(*conn).serve
         0     0%     0%      2.01s 72.83%  github.com/laurel-server/laurel/consumer.(*Server).ServeHTTP
     0.50s 18.12% 18.12%      0.50s 18.12%  internal/runtime/syscall/linux.Syscall6
`
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(summarizeProfile("garbage", 10), "garbage") {
		t.Error("a non-profile line was kept")
	}
}
