package stateres

// testHooks let the differential tests swap gomatrixserverlib's behaviour
// into one step at a time, to name the cause of each disagreement. Nil in
// production; a nil field keeps the spec's behaviour for that step.
type testHooks struct {
	selectPowerSet func(r *resolver, full []int32) (xs, rest []int32, inX, region []bool)
	powerOrder     func(r *resolver, xs []int32, inX, region []bool) []int32
	senderPower    func(r *resolver, x int32) (int64, bool)
	mainlineOrder  func(r *resolver, events []int32, pl int32) []int32
	authEvents     func(r *resolver, x int32, ps *partialState) []int32
}
