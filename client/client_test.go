package client

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile(ScriptName)
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(ModuleName)
	if err != nil {
		t.Fatal(err)
	}
	h := Handler()
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		wantStatus int
		wantBody   []byte
	}{
		{name: "script", method: http.MethodGet, path: ScriptPath, wantStatus: 200, wantBody: script},
		{name: "module", method: http.MethodGet, path: ModulePath, wantStatus: 200, wantBody: module},
		{name: "head", method: http.MethodHead, path: ScriptPath, wantStatus: 200, wantBody: []byte{}},
		{name: "range", method: http.MethodGet, path: ScriptPath, header: map[string]string{"Range": "bytes=0-9"},
			wantStatus: http.StatusPartialContent, wantBody: script[:10]},
		{name: "other file", method: http.MethodGet, path: Prefix + "other.js", wantStatus: 404},
		{name: "directory", method: http.MethodGet, path: Prefix, wantStatus: 404},
		{name: "not under prefix", method: http.MethodGet, path: "/" + ScriptName, wantStatus: 404},
		{name: "post", method: http.MethodPost, path: ScriptPath, wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if tc.wantBody == nil {
				return
			}
			if !bytes.Equal(body, tc.wantBody) {
				t.Fatalf("body differs from the file on disk (%d vs %d bytes)", len(body), len(tc.wantBody))
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
				t.Fatalf("Content-Type = %q, want text/javascript", ct)
			}
			if res.Header.Get("ETag") == "" {
				t.Fatal("no ETag")
			}
		})
	}
}

func TestHandlerConditional(t *testing.T) {
	t.Parallel()
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ScriptPath, nil))
	etag := rec.Header().Get("ETag")
	other := httptest.NewRecorder()
	h.ServeHTTP(other, httptest.NewRequest(http.MethodGet, ModulePath, nil))
	if etag == other.Header().Get("ETag") {
		t.Fatalf("script and module share the ETag %s", etag)
	}

	req := httptest.NewRequest(http.MethodGet, ScriptPath, nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match with the current ETag: status %d, want 304", rec.Code)
	}
	req = httptest.NewRequest(http.MethodGet, ScriptPath, nil)
	req.Header.Set("If-None-Match", `"stale"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("If-None-Match with a stale ETag: status %d, want 200", rec.Code)
	}
}

func TestModuleImportsScriptRelatively(t *testing.T) {
	t.Parallel()
	// The module must stay a thin wrapper over the one source of truth.
	if !bytes.Contains(Module(), []byte(`import "./`+ScriptName+`";`)) {
		t.Fatalf("%s does not import ./%s", ModuleName, ScriptName)
	}
	if !bytes.Contains(Script(), []byte("global.taskNotifications = create();")) {
		t.Fatalf("%s does not define the taskNotifications global", ScriptName)
	}
}

func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle(Prefix, Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + ScriptPath)
	if err != nil {
		panic(err)
	}
	_ = res.Body.Close()
	fmt.Println(res.Status, res.Header.Get("Content-Type"))
	// Output: 200 OK text/javascript; charset=utf-8
}
