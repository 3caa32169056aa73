package client

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

// Paths at which Handler serves the client.
const (
	// Prefix is the directory all client files are served under.
	Prefix = "/static/laurel/"
	// ScriptPath serves task-notifications.js: a classic script defining the
	// global taskNotifications (and TaskNotifications.create).
	ScriptPath = Prefix + ScriptName
	// ModulePath serves task-notifications.mjs: the ES module exporting
	// taskNotifications (default export) and create. It imports ScriptPath
	// relatively, so both must be served from the same directory.
	ModulePath = Prefix + ModuleName
)

// File names of the client, as they should be copied into a Django static
// directory.
const (
	ScriptName = "task-notifications.js"
	ModuleName = "task-notifications.mjs"
)

//go:embed task-notifications.js task-notifications.mjs
var files embed.FS

// Script returns the bytes of task-notifications.js. The slice is a copy.
func Script() []byte { return read(ScriptName) }

// Module returns the bytes of task-notifications.mjs. The slice is a copy.
func Module() []byte { return read(ModuleName) }

func read(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("client: embedded file missing: " + name) // impossible: go:embed checked it
	}
	return b
}

// served is one embedded file with its validator.
type served struct {
	body []byte
	etag string
}

// Handler returns an http.Handler serving ScriptPath and ModulePath with
// Content-Type "text/javascript; charset=utf-8" (module scripts require a
// JavaScript MIME type), a strong ETag derived from the content,
// "Cache-Control: no-cache" (browsers revalidate, getting 304 while the file
// is unchanged), and support for GET, HEAD, conditional and range requests.
// Every other path gets 404 and other methods 405. The handler is safe for
// concurrent use; mount it at Prefix or at "/".
func Handler() http.Handler {
	byPath := map[string]served{}
	for _, name := range []string{ScriptName, ModuleName} {
		b := read(name)
		sum := sha256.Sum256(b)
		byPath[Prefix+name] = served{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, path.Base(r.URL.Path), time.Time{}, bytes.NewReader(f.body))
	})
}
