//go:build race

package stateres

// raceEnabled shortens the slow generated-case tests under the race
// detector, which makes them about ten times slower.
const raceEnabled = true
