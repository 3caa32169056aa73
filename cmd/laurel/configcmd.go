package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// djangoSettingsScript prints, as JSON, the Django settings laurel reads. It
// only imports the settings module (no django.setup()), so it needs no
// database and runs no app code besides settings.py.
const djangoSettingsScript = `
import json, os, sys
module, pythonpath = sys.argv[1], sys.argv[2]
if pythonpath:
    sys.path.insert(0, pythonpath)
os.environ["DJANGO_SETTINGS_MODULE"] = module
from django.conf import settings
keys = ["SECRET_KEY", "SECRET_KEY_FALLBACKS", "ALLOWED_HOSTS", "DEBUG", "SESSION_ENGINE",
        "SESSION_COOKIE_NAME", "SESSION_COOKIE_AGE", "SESSION_FILE_PATH", "SESSION_SERIALIZER",
        "SESSION_CACHE_ALIAS", "AUTHENTICATION_BACKENDS", "AUTH_USER_MODEL", "USE_TZ", "TIME_ZONE",
        "DATABASES", "CACHES", "CHANNEL_LAYERS"]
out = {}
for k in keys:
    if hasattr(settings, k):
        out[k] = getattr(settings, k)
if "DATABASES" in out:
    d = out["DATABASES"].get("default", {})
    out["DATABASES"] = {"default": {k: d[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS") if k in d}}
if "CHANNEL_LAYERS" in out:
    out["CHANNEL_LAYERS"] = {k: v for k, v in out["CHANNEL_LAYERS"].items() if k == "default"}
for k in dir(settings):
    if k.startswith("LAUREL_"):
        out[k] = getattr(settings, k)
print(json.dumps(out, default=str))
`

func runConfig(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(io.stderr)
	module := fs.String("from-django", "", "Django settings module, e.g. myproject.settings (required)")
	pythonpath := fs.String("pythonpath", "", "directory added to sys.path (the project root)")
	python := fs.String("python", "python3", "the project's Python interpreter (its virtualenv's bin/python)")
	secrets := fs.Bool("include-secrets", false, "write SECRET_KEY and passwords into the file instead of environment references")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *module == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --from-django SETTINGS_MODULE is required", errUsage)
	}
	cmd := exec.CommandContext(ctx, *python, "-c", djangoSettingsScript, *module, *pythonpath) //nolint:gosec // operator-chosen interpreter
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = io.environ
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("importing %s with %s: %w\n%s", *module, *python, err, strings.TrimSpace(stderr.String()))
	}
	var settings map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&settings); err != nil {
		return fmt.Errorf("reading settings from Python: %w", err)
	}
	var envs []string
	if !*secrets {
		envs = referenceSecrets(settings)
	}
	_, err = io.stdout.Write(renderTOML(*module, settings, envs))
	return err
}

// referenceSecrets replaces secrets with {env = "..."} references and
// returns the variables the operator must set.
func referenceSecrets(s map[string]any) []string {
	var envs []string
	ref := func(name string) map[string]any {
		envs = append(envs, name)
		return map[string]any{"env": name}
	}
	if v, ok := s["SECRET_KEY"].(string); ok && v != "" {
		s["SECRET_KEY"] = ref("LAUREL_SECRET_KEY")
	}
	if v, ok := s["SECRET_KEY_FALLBACKS"].([]any); ok && len(v) > 0 {
		delete(s, "SECRET_KEY_FALLBACKS")
		envs = append(envs, "LAUREL_SECRET_KEY_FALLBACKS (JSON list or comma list)")
	}
	for _, top := range []string{"DATABASES", "CACHES"} {
		m, _ := s[top].(map[string]any)
		for alias, v := range m {
			c, _ := v.(map[string]any)
			if p, ok := c["PASSWORD"].(string); ok && p != "" {
				c["PASSWORD"] = ref("LAUREL_" + top + "__" + alias + "__PASSWORD")
			}
			if o, _ := c["OPTIONS"].(map[string]any); o != nil {
				if p, ok := o["PASSWORD"].(string); ok && p != "" {
					o["PASSWORD"] = ref("LAUREL_" + top + "__" + alias + "__OPTIONS__PASSWORD")
				}
			}
		}
	}
	return envs
}

// renderTOML writes settings as laurel's TOML: top-level scalars, then
// tables, then a commented [laurel] table.
func renderTOML(module string, s map[string]any, envs []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# laurel configuration generated from Django settings %s by `laurel config --from-django`.\n", module)
	b.WriteString("# Top-level keys are Django settings under their Django names; LAUREL_<NAME> environment\n")
	b.WriteString("# variables override them. See docs/configuration.md.\n")
	if len(envs) > 0 {
		b.WriteString("#\n# Secrets are read from the environment; set before starting laurel:\n")
		for _, e := range envs {
			fmt.Fprintf(&b, "#   %s\n", e)
		}
	}
	b.WriteString("\n")
	writeTable(&b, "", s)
	b.WriteString(`
[laurel]
# queue_size = 256            # frames waiting per socket; a full queue closes it with 4008
# max_message_size = 1048576  # bytes; larger client messages close the socket with 1009
# subscription_limit = 100    # groups a socket may join through actions
# group_membership = "socket" # "process": one group member per laurel process, not per socket
# drain_period = "5s"         # shutdown spreads 1001 closes over this period
# revalidate_interval = "60s" # re-check sessions (close with 4003 on logout); "-1s" = off
# upstream = "http://127.0.0.1:8001"  # Daphne/uvicorn for everything laurel does not serve
`)
	return b.Bytes()
}

func isEnvRef(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	_, ok = m["env"]
	return ok
}

func writeTable(b *bytes.Buffer, prefix string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var tables []string
	for _, k := range keys {
		v := m[k]
		if v == nil {
			continue
		}
		if sub, ok := v.(map[string]any); ok && !isEnvRef(v) {
			if len(sub) > 0 {
				tables = append(tables, k)
			}
			continue
		}
		fmt.Fprintf(b, "%s = %s\n", tomlKey(k), tomlValue(v))
	}
	for _, k := range tables {
		name := tomlKey(k)
		if prefix != "" {
			name = prefix + "." + name
		}
		sub := m[k].(map[string]any)
		if hasScalars(sub) {
			fmt.Fprintf(b, "\n[%s]\n", name)
		}
		writeTable(b, name, sub)
	}
}

// hasScalars reports whether a table has values that need its own header.
func hasScalars(m map[string]any) bool {
	for _, v := range m {
		if _, ok := v.(map[string]any); v != nil && (!ok || isEnvRef(v)) {
			return true
		}
	}
	return false
}

func tomlKey(k string) string {
	for _, r := range k {
		if r != '_' && r != '-' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return tomlString(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

func tomlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return tomlString(x)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return x.String()
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return tomlString(x.String())
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if e == nil {
				continue
			}
			parts = append(parts, tomlValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if x[k] == nil {
				continue
			}
			parts = append(parts, tomlKey(k)+" = "+tomlValue(x[k]))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return tomlString(fmt.Sprint(v))
}
