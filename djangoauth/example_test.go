package djangoauth_test

import (
	"context"
	"fmt"

	"github.com/laurel-server/laurel/djangoauth"
)

// Build an Authenticator from the JSON form of Django settings and judge a
// handshake's Cookie and Origin headers.
func Example() {
	cfg, err := djangoauth.FromSettings([]byte(`{
		"SECRET_KEY": "django-insecure-test-key",
		"SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
		"DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "testdata/django.sqlite3"}},
		"ALLOWED_HOSTS": [".example.com"],
		"LAUREL_VERDICT_TTL": 2
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	a, err := djangoauth.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	v := a.Authenticate(context.Background(), "csrftoken=abc")
	fmt.Println(v.Authenticated, v.Reason)
	fmt.Println(a.OriginValidator().Allow([]string{"https://chat.example.com"}))
	fmt.Println(a.OriginValidator().Allow([]string{"https://evil.example.org"}))
	// Output:
	// false no_cookie
	// true
	// false
}

// Django's signing, on its own.
func ExampleLoads() {
	v, err := djangoauth.Loads("ImhlbGxvIg:1r31eq:D5q_DGDn9Aw46H9afZX7iegV7YpEnpB4lZQndj5_sMk",
		"django-insecure-test-key", nil, "", 0)
	fmt.Println(v, err)
	// Output: hello <nil>
}
