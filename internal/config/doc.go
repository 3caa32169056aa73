// Package config loads laurel's configuration: a TOML file whose top-level
// keys are Django settings under their Django names (SECRET_KEY,
// ALLOWED_HOSTS, DATABASES, CACHES, CHANNEL_LAYERS, ...) plus laurel's own
// settings in a [laurel] table, overridden by LAUREL_<SETTING> environment
// variables. The variables are passed in; the package never reads the
// process environment itself.
//
// Every error names the setting at fault, so that laurel can stop at start-up
// with a message the operator can act on. docs/configuration.md lists every
// setting.
package config
