package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// EnvPrefix prefixes every environment override.
const EnvPrefix = "LAUREL_"

type kind int

const (
	kString kind = iota
	kList
	kBool
	kInt
	kObject
	kDuration
	kRoutes
	kNumber
)

// djangoSettings are the Django settings laurel reads and their types, for
// parsing LAUREL_<NAME> overrides.
var djangoSettings = map[string]kind{
	"SECRET_KEY":              kString,
	"SECRET_KEY_FALLBACKS":    kList,
	"ALLOWED_HOSTS":           kList,
	"DEBUG":                   kBool,
	"SESSION_ENGINE":          kString,
	"SESSION_COOKIE_NAME":     kString,
	"SESSION_COOKIE_AGE":      kInt,
	"SESSION_FILE_PATH":       kString,
	"SESSION_SERIALIZER":      kString,
	"SESSION_CACHE_ALIAS":     kString,
	"DATABASES":               kObject,
	"CACHES":                  kObject,
	"AUTHENTICATION_BACKENDS": kList,
	"AUTH_USER_MODEL":         kString,
	"USE_TZ":                  kBool,
	"TIME_ZONE":               kString,
	"CHANNEL_LAYERS":          kObject,
}

// djangoauthSettings are djangoauth's laurel-only keys, passed with the Django
// settings (LAUREL_VERDICT_TTL, LAUREL_USER_TABLE, ...). The environment
// variable has the same name as the key.
var djangoauthSettings = map[string]kind{
	"LAUREL_VERDICT_TTL":           kNumber,
	"LAUREL_USER_TABLE":            kString,
	"LAUREL_SESSION_TABLE":         kString,
	"LAUREL_SESSION_STORE_CLASS":   kString,
	"LAUREL_USER_PK_TYPE":          kString,
	"LAUREL_USER_PK_COLUMN":        kString,
	"LAUREL_USER_PASSWORD_COLUMN":  kString,
	"LAUREL_USER_USERNAME_COLUMN":  kString,
	"LAUREL_USER_ACTIVE_COLUMN":    kString,
	"LAUREL_USER_STAFF_COLUMN":     kString,
	"LAUREL_USER_SUPERUSER_COLUMN": kString,
}

// laurelSettings are the [laurel] keys and their types.
var laurelSettings = map[string]kind{
	"routes":                  kRoutes,
	"queue_size":              kInt,
	"max_message_size":        kInt,
	"subscription_limit":      kInt,
	"max_sockets_per_address": kInt,
	"max_sockets":             kInt,
	"group_membership":        kString,
	"heartbeat_interval":      kDuration,
	"drain_period":            kDuration,
	"shutdown_timeout":        kDuration,
	"revalidate_interval":     kDuration,
	"group_refresh_interval":  kDuration,
	"handshake_timeout":       kDuration,
	"write_timeout":           kDuration,
	"ping_interval":           kDuration,
	"ping_timeout":            kDuration,
	"websocket_timeout":       kDuration,
	"upstream":                kString,
	"metrics_bind":            kString,
	"proxy_headers":           kBool,
	"root_path":               kString,
	"access_log":              kString,
	"log_format":              kString,
	"log_level":               kString,
}

// applyEnv applies LAUREL_* variables: LAUREL_<DJANGO_SETTING> (e.g.
// LAUREL_SECRET_KEY, LAUREL_ALLOWED_HOSTS), LAUREL_<DJANGO_SETTING>__<key>...
// for one nested value (LAUREL_DATABASES__default__PASSWORD), and
// LAUREL_<LAUREL_SETTING> (LAUREL_QUEUE_SIZE).
func (s *Settings) applyEnv(env map[string]string, laurel map[string]any) error {
	names := make([]string, 0, len(env))
	for k := range env {
		if strings.HasPrefix(k, EnvPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		name, val := k[len(EnvPrefix):], env[k]
		if top, rest, nested := strings.Cut(name, "__"); nested {
			if djangoSettings[top] != kObject {
				return fmt.Errorf("%w: %s: only DATABASES, CACHES and CHANNEL_LAYERS take nested overrides", ErrSetting, k)
			}
			if err := setNested(s.Django, top, strings.Split(rest, "__"), val); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrSetting, k, err)
			}
			continue
		}
		if kd, ok := djangoauthSettings[k]; ok {
			v, err := parseEnv(kd, val)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrSetting, k, err)
			}
			s.Django[k] = v
			continue
		}
		if kd, ok := djangoSettings[name]; ok {
			v, err := parseEnv(kd, val)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrSetting, k, err)
			}
			s.Django[name] = v
			continue
		}
		if kd, ok := laurelSettings[strings.ToLower(name)]; ok {
			v, err := parseEnv(kd, val)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrSetting, k, err)
			}
			laurel[strings.ToLower(name)] = v
			continue
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("environment variable %s is not a laurel setting; ignored", k))
	}
	return nil
}

func setNested(root map[string]any, top string, path []string, val string) error {
	cur, ok := root[top].(map[string]any)
	if !ok {
		cur = map[string]any{}
		root[top] = cur
	}
	for i, p := range path {
		if p == "" {
			return fmt.Errorf("empty key in path")
		}
		if i == len(path)-1 {
			var v any = val
			if strings.HasPrefix(val, "{") || strings.HasPrefix(val, "[") {
				if err := json.Unmarshal([]byte(val), &v); err != nil {
					return fmt.Errorf("value starts like JSON but is not: %w", err)
				}
			}
			cur[p] = v
			return nil
		}
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	return nil
}

// parseEnv converts a variable's text to the setting's type. Lists are a
// JSON array or a comma-separated list; objects are JSON; routes are a JSON
// array of route objects.
func parseEnv(k kind, val string) (any, error) {
	switch k {
	case kString, kDuration:
		return val, nil
	case kBool:
		switch strings.ToLower(strings.TrimSpace(val)) {
		case "1", "true", "yes", "on":
			return true, nil
		case "0", "false", "no", "off", "":
			return false, nil
		}
		return nil, fmt.Errorf("want true or false, not %q", val)
	case kInt:
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an integer, not %q", val)
		}
		return n, nil
	case kList:
		t := strings.TrimSpace(val)
		if strings.HasPrefix(t, "[") {
			var l []string
			if err := json.Unmarshal([]byte(t), &l); err != nil {
				return nil, fmt.Errorf("want a JSON array of strings: %w", err)
			}
			return toAnySlice(l), nil
		}
		out := []any{}
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case kNumber:
		t := strings.TrimSpace(val)
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("want a number, not %q", val)
		}
		return f, nil
	case kObject:
		var m map[string]any
		if err := json.Unmarshal([]byte(val), &m); err != nil {
			return nil, fmt.Errorf("want a JSON object: %w", err)
		}
		return m, nil
	case kRoutes:
		var rs []map[string]any
		if err := json.Unmarshal([]byte(val), &rs); err != nil {
			return nil, fmt.Errorf("want a JSON array of route objects: %w", err)
		}
		return rs, nil
	}
	return nil, fmt.Errorf("unsupported setting type")
}

func toAnySlice(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
