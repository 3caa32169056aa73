//go:build race

package devserver

// raceEnabled is true when tests run with -race, under which a
// 1,000,000-iteration PBKDF2 takes tens of seconds.
const raceEnabled = true
