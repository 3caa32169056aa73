//go:build !race

package devserver

// raceEnabled is true when tests run with -race.
const raceEnabled = false
