package devserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/laurel-server/laurel/client"
)

type appFixture struct {
	srv *httptest.Server
	rec *recorder
	c   *http.Client
}

func newAppFixture(t *testing.T) *appFixture {
	t.Helper()
	d := openTestDB(t)
	if _, err := d.EnsureUser(context.Background(), "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	app, err := NewApp(AppConfig{DB: d, Sessions: testAuthenticator(t, d), Layer: rec,
		Task: TaskPlan{Steps: 2, StepInterval: time.Millisecond, StartDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.Close()
		app.Close()
	})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &appFixture{srv: srv, rec: rec, c: c}
}

// reply is a response whose body was read and closed.
type reply struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (r reply) Cookies() []*http.Cookie { return r.cookies }

func (f *appFixture) do(t *testing.T, method, path string, form url.Values, header map[string]string) (reply, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{StatusCode: res.StatusCode, Header: res.Header, cookies: res.Cookies()}, string(b)
}

func TestAppSignInAndStartTask(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t)

	res, body := f.do(t, "GET", "/", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(body, `id="signin"`) || strings.Contains(body, "task-notifications.js") {
		t.Fatalf("anonymous GET / = %d, want the sign-in form:\n%s", res.StatusCode, body)
	}
	if res, _ := f.do(t, "POST", "/tasks", url.Values{}, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous POST /tasks = %d, want 403", res.StatusCode)
	}
	res, body = f.do(t, "POST", "/login", url.Values{"username": {"demo"}, "password": {"wrong"}}, nil)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="error"`) {
		t.Fatalf("wrong password = %d, want 403 with the error shown", res.StatusCode)
	}
	res, _ = f.do(t, "POST", "/login", url.Values{"username": {"demo"}, "password": {"demo"}}, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign in = %d %q, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "sessionid" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.MaxAge != 1209600 {
		t.Fatalf("session cookie = %+v, want Django's defaults", cookie)
	}

	res, body = f.do(t, "GET", "/", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(body, `Signed in as <b id="user">demo</b>`) ||
		!strings.Contains(body, `src="`+client.ScriptPath+`"`) {
		t.Fatalf("signed-in GET / = %d:\n%s", res.StatusCode, body)
	}

	res, body = f.do(t, "POST", "/tasks", url.Values{}, nil)
	var started struct {
		TaskID string `json:"task_id"`
	}
	if res.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(body), &started) != nil || len(started.TaskID) != 36 {
		t.Fatalf("POST /tasks = %d %s", res.StatusCode, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(f.rec.snapshot()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("task sent %d of 3 events", len(f.rec.snapshot()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.rec.snapshot(); got[2].group != TaskGroup(started.TaskID) || got[2].msg.String("type") != "task.complete" {
		t.Fatalf("last event %s %v", got[2].group, got[2].msg)
	}

	res, _ = f.do(t, "POST", "/logout", url.Values{}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out = %d", res.StatusCode)
	}
	if res, _ := f.do(t, "POST", "/tasks", url.Values{}, map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /tasks with the signed-out session = %d, want 403", res.StatusCode)
	}
}

func TestAppRouting(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t)
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               int
		wantBody           string
	}{
		{name: "client script", method: "GET", path: client.ScriptPath, want: 200},
		{name: "client module", method: "GET", path: client.ModulePath, want: 200},
		{name: "unknown path", method: "GET", path: "/nope", want: 404},
		{name: "GET login", method: "GET", path: "/login", want: 405},
		{name: "POST page", method: "POST", path: "/", want: 405},
		{name: "cross-origin login", method: "POST", path: "/login", header: map[string]string{"Origin": "http://evil.example"}, want: 403,
			wantBody: "cross-origin request refused"},
		{name: "cross-origin task", method: "POST", path: "/tasks", header: map[string]string{"Origin": "http://evil.example"}, want: 403,
			wantBody: "cross-origin request refused"},
		{name: "same-origin via proxy", method: "POST", path: "/login",
			header: map[string]string{"Origin": "http://laurel.test:8000", "X-Forwarded-Host": "laurel.test:8000"}, want: 403,
			wantBody: `id="error"`}, // past the origin check, refused for the bad password
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{"username": {"demo"}, "password": {"bad"}}
			}
			res, body := f.do(t, tc.method, tc.path, form, tc.header)
			if res.StatusCode != tc.want {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, res.StatusCode, tc.want, body)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Fatalf("%s %s body does not contain %q:\n%s", tc.method, tc.path, tc.wantBody, body)
			}
		})
	}
}
