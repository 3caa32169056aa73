package consumer

import (
	"fmt"
	"path"
	"strings"
)

// Auth says whether a route needs an authenticated Django session.
type Auth string

const (
	// AuthRequired refuses the handshake (HTTP 403) unless the session
	// belongs to an active user. It is the default.
	AuthRequired Auth = "required"
	// AuthOptional accepts anonymous sockets too; group templates that use
	// {user_id} or {username} are skipped for them.
	AuthOptional Auth = "optional"
)

// Route declares one WebSocket endpoint and its consumer behaviour.
//
// Templates (Groups, Action.Join, Action.Leave) are group names with
// {placeholders}: {user_id} and {username} of the authenticated user, any
// {kwarg} of the path, and, in actions, any field of the client message
// (string or integer). A template that expands to an invalid group name is
// refused with an error frame.
type Route struct {
	// Path is the request path, with {kwarg} segments matching one non-empty
	// path segment, e.g. "/ws/chat/{room}/". Matching is exact otherwise,
	// trailing slash included.
	Path string
	// Auth is AuthRequired (the zero value) or AuthOptional.
	Auth Auth
	// Groups are joined on connect and left on disconnect.
	Groups []string
	// Actions map client {"action": name, ...} messages to group changes.
	Actions []Action
	// Forward lists the event types forwarded to the socket, as path.Match
	// globs ("task.*"). Empty forwards every type. Other types are dropped
	// and counted (DropNotForwarded).
	Forward []string
}

// Action maps one client action to joining or leaving a templated group.
// Exactly one of Join and Leave is set.
type Action struct {
	// Name is the value of the message's "action" field.
	Name string
	// Join is the template of the group to join.
	Join string
	// Leave is the template of the group to leave.
	Leave string
}

// DefaultRoutes returns the seed consumer's route: /ws/tasks/, authenticated,
// joined to user_<id>, "subscribe"/"unsubscribe" with a task_id joining and
// leaving task_<task_id>, forwarding task.* and user.* events.
func DefaultRoutes() []Route {
	return []Route{{
		Path:   "/ws/tasks/",
		Auth:   AuthRequired,
		Groups: []string{"user_{user_id}"},
		Actions: []Action{
			{Name: "subscribe", Join: "task_{task_id}"},
			{Name: "unsubscribe", Leave: "task_{task_id}"},
		},
		Forward: []string{"task.*", "user.*"},
	}}
}

// template is a compiled group-name template.
type template struct {
	src   string
	parts []tplPart
}

type tplPart struct {
	lit string
	ref string // placeholder name when non-empty
}

func parseTemplate(s string) (template, error) {
	t := template{src: s}
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return t, fmt.Errorf("unmatched } in %q", t.src)
			}
			t.parts = append(t.parts, tplPart{lit: s})
			break
		}
		if i > 0 {
			if strings.IndexByte(s[:i], '}') >= 0 {
				return t, fmt.Errorf("unmatched } in %q", t.src)
			}
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("unclosed { in %q", t.src)
		}
		name := s[i+1 : i+j]
		if !validIdent(name) {
			return t, fmt.Errorf("bad placeholder {%s} in %q", name, t.src)
		}
		t.parts = append(t.parts, tplPart{ref: name})
		s = s[i+j+1:]
	}
	if len(t.parts) == 0 {
		return t, fmt.Errorf("empty group template")
	}
	return t, nil
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// refs returns the placeholder names used.
func (t template) refs() []string {
	var r []string
	for _, p := range t.parts {
		if p.ref != "" {
			r = append(r, p.ref)
		}
	}
	return r
}

// expand fills the template; lookup returns a placeholder's value and
// whether it exists. It returns the name of the first missing placeholder.
func (t template) expand(lookup func(string) (string, bool)) (string, string) {
	// The values first, then the name in one allocation: always a new
	// string, never one sharing the memory of a value (a slice of a whole
	// client message).
	var (
		arr  [4]string
		vals = arr[:0]
		size int
	)
	for _, p := range t.parts {
		if p.ref == "" {
			size += len(p.lit)
			continue
		}
		v, ok := lookup(p.ref)
		if !ok {
			return "", p.ref
		}
		vals = append(vals, v)
		size += len(v)
	}
	var b strings.Builder
	b.Grow(size)
	for _, p := range t.parts {
		if p.ref == "" {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(vals[0])
		vals = vals[1:]
	}
	return b.String(), ""
}

// compiledRoute is a validated Route.
type compiledRoute struct {
	Route
	segments []pathSeg
	groups   []template
	actions  map[string]compiledAction
}

type pathSeg struct {
	lit   string
	kwarg string
}

type compiledAction struct {
	join  bool
	tpl   template
	field string // the message field reported when the group is invalid
}

func compileRoutes(routes []Route) ([]*compiledRoute, error) {
	out := make([]*compiledRoute, 0, len(routes))
	seen := map[string]bool{}
	for i, r := range routes {
		c, err := compileRoute(r)
		if err != nil {
			return nil, fmt.Errorf("%w: route %d (%q): %w", ErrConfig, i, r.Path, err)
		}
		if seen[r.Path] {
			return nil, fmt.Errorf("%w: route %d: duplicate path %q", ErrConfig, i, r.Path)
		}
		seen[r.Path] = true
		out = append(out, c)
	}
	return out, nil
}

func compileRoute(r Route) (*compiledRoute, error) {
	c := &compiledRoute{Route: r, actions: map[string]compiledAction{}}
	switch r.Auth {
	case "":
		c.Auth = AuthRequired
	case AuthRequired, AuthOptional:
	default:
		return nil, fmt.Errorf("auth must be %q or %q, not %q", AuthRequired, AuthOptional, r.Auth)
	}
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("path must start with /")
	}
	kwargs := map[string]bool{}
	for _, s := range strings.Split(r.Path[1:], "/") {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			if !validIdent(name) || name == "user_id" || name == "username" || kwargs[name] {
				return nil, fmt.Errorf("bad or duplicate path kwarg {%s}", name)
			}
			kwargs[name] = true
			c.segments = append(c.segments, pathSeg{kwarg: name})
			continue
		}
		if strings.ContainsAny(s, "{}") {
			return nil, fmt.Errorf("a {kwarg} must be a whole path segment")
		}
		c.segments = append(c.segments, pathSeg{lit: s})
	}
	for _, g := range r.Groups {
		t, err := parseTemplate(g)
		if err != nil {
			return nil, err
		}
		for _, ref := range t.refs() {
			if ref != "user_id" && ref != "username" && !kwargs[ref] {
				return nil, fmt.Errorf("group %q uses {%s}, which is neither user_id, username nor a path kwarg", g, ref)
			}
		}
		c.groups = append(c.groups, t)
	}
	for _, a := range r.Actions {
		if a.Name == "" {
			return nil, fmt.Errorf("action without a name")
		}
		if _, dup := c.actions[a.Name]; dup {
			return nil, fmt.Errorf("duplicate action %q", a.Name)
		}
		if (a.Join == "") == (a.Leave == "") {
			return nil, fmt.Errorf("action %q needs exactly one of join and leave", a.Name)
		}
		src, join := a.Join, true
		if src == "" {
			src, join = a.Leave, false
		}
		t, err := parseTemplate(src)
		if err != nil {
			return nil, err
		}
		ca := compiledAction{join: join, tpl: t, field: "group"}
		for _, ref := range t.refs() {
			if ref != "user_id" && ref != "username" && !kwargs[ref] {
				ca.field = ref
			}
		}
		c.actions[a.Name] = ca
	}
	for _, f := range r.Forward {
		if _, err := path.Match(f, ""); err != nil {
			return nil, fmt.Errorf("bad forward pattern %q: %w", f, err)
		}
	}
	return c, nil
}

// match reports whether p matches the route and returns its kwargs.
func (c *compiledRoute) match(p string) (map[string]string, bool) {
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	rest := p[1:]
	var kw map[string]string
	for i, seg := range c.segments {
		var s string
		if i == len(c.segments)-1 {
			s, rest = rest, ""
			if strings.IndexByte(s, '/') >= 0 {
				return nil, false
			}
		} else {
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				return nil, false
			}
			s, rest = rest[:j], rest[j+1:]
		}
		if seg.kwarg == "" {
			if s != seg.lit {
				return nil, false
			}
			continue
		}
		if s == "" {
			return nil, false
		}
		if kw == nil {
			kw = map[string]string{}
		}
		kw[seg.kwarg] = s
	}
	return kw, true
}

// forwards reports whether events of type typ go to the route's sockets.
func (c *compiledRoute) forwards(typ string) bool {
	if len(c.Forward) == 0 {
		return true
	}
	for _, f := range c.Forward {
		if ok, _ := path.Match(f, typ); ok {
			return true
		}
	}
	return false
}
