package devserver

import (
	"context"
	"crypto/rand"
	_ "embed" // page.html
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/laurel-server/laurel/client"
	"github.com/laurel-server/laurel/djangoauth"
)

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// SessionChecker authenticates a Cookie header as Django would;
// *djangoauth.Authenticator satisfies it.
type SessionChecker interface {
	Authenticate(ctx context.Context, cookieHeader string) djangoauth.Verdict
}

// AppConfig configures the demo application.
type AppConfig struct {
	// DB holds the users and sessions. Required.
	DB *Database
	// Sessions authenticates requests' session cookies. Required.
	Sessions SessionChecker
	// Layer sends the simulated tasks' events. Required.
	Layer GroupSender
	// DemoUser and DemoPassword are prefilled in the sign-in form. Empty
	// means "demo" and "demo".
	DemoUser, DemoPassword string
	// CookieName is SESSION_COOKIE_NAME. Empty means "sessionid".
	CookieName string
	// SessionAge is SESSION_COOKIE_AGE. Zero means two weeks (1209600 s).
	SessionAge time.Duration
	// Task shapes the simulated tasks.
	Task TaskPlan
	// Logger receives the application's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// App is the demo web application: GET / (the sign-in form, or the task
// page with the browser client once signed in), POST /login, POST /logout,
// POST /tasks (starts a simulated task and answers {"task_id": ...}) and
// the browser client under client.Prefix. It is an http.Handler, safe for
// concurrent use.
type App struct {
	cfg    AppConfig
	log    *slog.Logger
	static http.Handler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewApp validates cfg and returns an App. Close stops its running tasks.
func NewApp(cfg AppConfig) (*App, error) {
	if cfg.DB == nil || cfg.Sessions == nil || cfg.Layer == nil {
		return nil, errors.New("devserver: AppConfig needs DB, Sessions and Layer")
	}
	if cfg.DemoUser == "" {
		cfg.DemoUser = "demo"
	}
	if cfg.DemoPassword == "" {
		cfg.DemoPassword = "demo"
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "sessionid"
	}
	if cfg.SessionAge == 0 {
		cfg.SessionAge = 1209600 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &App{cfg: cfg, log: cfg.Logger, static: client.Handler(), ctx: ctx, cancel: cancel}, nil
}

// Close cancels the running simulated tasks and waits for them. It is safe
// to call twice.
func (a *App) Close() {
	a.cancel()
	a.wg.Wait()
}

// ServeHTTP routes the demo application's requests.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, client.Prefix):
		a.static.ServeHTTP(w, r)
	case p == "/":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		v := a.cfg.Sessions.Authenticate(r.Context(), r.Header.Get("Cookie"))
		a.render(w, http.StatusOK, v, "")
	case p == "/login" || p == "/logout" || p == "/tasks":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		if !sameOrigin(r) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		switch p {
		case "/login":
			a.login(w, r)
		case "/logout":
			a.logout(w, r)
		default:
			a.startTask(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// sameOrigin refuses cross-site form posts (the role of Django's CSRF
// middleware in this demo): an Origin header, when present, must name the
// host the browser addressed.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = strings.TrimSpace(strings.Split(fh, ",")[0])
	}
	return strings.EqualFold(u.Host, host)
}

type pageData struct {
	Signed                 bool
	Username, UserID       string
	DemoUser, DemoPassword string
	Error                  string
}

func (a *App) render(w http.ResponseWriter, status int, v djangoauth.Verdict, errText string) {
	d := pageData{
		Signed: v.Authenticated, Username: v.Username, UserID: v.UserID,
		DemoUser: a.cfg.DemoUser, DemoPassword: a.cfg.DemoPassword, Error: errText,
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, d); err != nil {
		a.log.Warn("rendering the demo page", slog.Any("err", err))
	}
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	u, err := a.cfg.DB.CheckCredentials(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"))
	if errors.Is(err, ErrBadCredentials) {
		a.render(w, http.StatusForbidden, djangoauth.Verdict{}, "Please enter a correct username and password.")
		return
	}
	if err != nil {
		a.log.Error("sign in", slog.Any("err", err))
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	key, err := a.cfg.DB.CreateSession(r.Context(), u, a.cfg.SessionAge)
	if err != nil {
		a.log.Error("sign in", slog.Any("err", err))
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	// The cookie Django's SessionMiddleware sets with its default settings
	// (SESSION_COOKIE_SECURE = False), made Secure when the page is HTTPS.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // plain-HTTP dev server: Secure only over HTTPS
		Name: a.cfg.CookieName, Value: key, Path: "/",
		MaxAge: int(a.cfg.SessionAge / time.Second), Expires: time.Now().Add(a.cfg.SessionAge).UTC(),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(r),
	})
	a.log.Info("signed in", slog.String("username", u.Username), slog.Int64("user_id", u.ID))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(a.cfg.CookieName); err == nil {
		if err := a.cfg.DB.DeleteSession(r.Context(), c.Value); err != nil {
			a.log.Error("sign out", slog.Any("err", err))
		}
	}
	http.SetCookie(w, &http.Cookie{Name: a.cfg.CookieName, Value: "", Path: "/", MaxAge: -1, //nolint:gosec // as above
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(r)})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// isHTTPS reports whether the browser reached the page over HTTPS, directly
// or through laurel (X-Forwarded-Proto).
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// newTaskID returns a random UUID4 string, the form of a Celery task id.
func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (a *App) startTask(w http.ResponseWriter, r *http.Request) {
	v := a.cfg.Sessions.Authenticate(r.Context(), r.Header.Get("Cookie"))
	w.Header().Set("Content-Type", "application/json")
	if !v.Authenticated {
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "not_authenticated", "reason": string(v.Reason)})
		return
	}
	id := newTaskID()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		log := a.log.With(slog.String("task_id", id), slog.String("user_id", v.UserID))
		log.Info("task started")
		if err := RunTask(a.ctx, a.cfg.Layer, id, a.cfg.Task); err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Error("task failed", slog.Any("err", err))
			}
			return
		}
		log.Info("task completed")
	}()
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"task_id": id})
}
