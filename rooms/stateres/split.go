package stateres

import (
	"cmp"
	"maps"
	"math/bits"
	"slices"
	"sort"
	"unsafe"
)

// split divides the state sets into the unconflicted state map and the
// conflicted state set.
//
// Spec (v2 "Unconflicted state map and conflicted state set"): "If a given
// key K is present in every S_i with the same value V in each state map,
// then the pair (K, V) belongs to the unconflicted state map. Otherwise, V
// belongs to the conflicted state set."
//
// It returns the unconflicted map, the conflicted event IDs (sorted, each
// once) and, for each set, the conflicted event IDs it holds.
//
// The sets of a big room are big maps that agree almost everywhere, and
// comparing them through the maps costs a cache miss per lookup once they
// outgrow the cache: each map has its own hash seed and layout, so the
// lookups land at random (~0.2 µs each at 100,000 members, four per key
// with five sets). But the sets are usually copies of one parent state
// with a few changes, sharing the very strings of their entries (the
// rooms package builds them so, as would any store of state snapshots).
// split therefore first compares entries by where their strings live
// (compareByAddress), which streams through memory and reads no string,
// and then compares by content, through the maps, only the keys it could
// not settle that way. When that is most keys (sets decoded separately,
// for example), when the sets are small enough for the maps to stay in
// the cache, or when there are more than 64 sets, it compares every key
// by content (judgeAll).
func split(sets []StateMap) (unconflicted StateMap, conflicted []string, perSet [][]string) {
	// Every unconflicted key is in the first set: start from a copy of it
	// (a map copy is much cheaper than inserting key by key) and take the
	// conflicted keys out.
	unconflicted = maps.Clone(sets[0])
	if unconflicted == nil {
		unconflicted = StateMap{}
	}
	s := &splitter{sets: sets, unconflicted: unconflicted, perSet: make([][]string, len(sets))}
	switch {
	case len(sets) == 1:
	case len(sets[0])*(len(sets)-1) < byAddressMin || len(sets) > 64:
		s.judgeAll()
	default:
		if cmp, ok := compareByAddress(sets); ok {
			s.judgeDoubtful(cmp)
		} else {
			s.judgeAll()
		}
	}
	sort.Strings(s.conflicted)
	return s.unconflicted, s.conflicted, s.perSet
}

// byAddressMin is the number of lookups a comparison by content would
// make (the first set's size times the number of other sets) from which
// split compares by address instead. Below it the maps stay in the cache
// and lookups are cheaper. BenchmarkSplit placed it: with 5 sets the two
// ways cost the same at ~30,000 entries and by address is 1.6x faster at
// 100,000; with 2 sets they cost the same at ~100,000.
var byAddressMin = defaultByAddressMin

// defaultByAddressMin is byAddressMin's value (tests change byAddressMin).
const defaultByAddressMin = 1 << 17

// splitter holds split's results while it judges keys by content.
type splitter struct {
	sets         []StateMap
	unconflicted StateMap
	conflicted   []string
	perSet       [][]string
	seen         map[string]struct{} // the values in conflicted
}

// conflict records key k as conflicted: every set's value at k goes to the
// conflicted set.
func (s *splitter) conflict(k StateKey) {
	delete(s.unconflicted, k)
	if s.seen == nil {
		s.seen = make(map[string]struct{})
	}
	for i, set := range s.sets {
		if v, ok := set[k]; ok {
			s.perSet[i] = append(s.perSet[i], v)
			if _, dup := s.seen[v]; !dup {
				s.seen[v] = struct{}{}
				s.conflicted = append(s.conflicted, v)
			}
		}
	}
}

// judgeAll decides every key of every set by content.
func (s *splitter) judgeAll() {
	sets := s.sets
	found := make([]int, len(sets)) // keys of set i that the first set has
	for k, v := range sets[0] {
		same := true
		for i, set := range sets[1:] {
			w, ok := set[k]
			if ok {
				found[i+1]++
			}
			if !ok || w != v {
				same = false
			}
		}
		if !same {
			s.conflict(k)
		}
	}
	for i, set := range sets[1:] {
		if found[i+1] == len(set) {
			continue // no key beyond the first set's
		}
		for k := range set {
			if _, ok := sets[0][k]; ok {
				continue
			}
			// Not in the first set, so conflicted; judge it once, from
			// the first set that holds it.
			first := true
			for _, earlier := range sets[1 : i+1] {
				if _, ok := earlier[k]; ok {
					first = false
					break
				}
			}
			if first {
				s.conflict(k)
			}
		}
	}
}

// judgeDoubtful decides by content the keys of the entries in doubt after
// compareByAddress; every other key is held by every set with the same
// strings, so it is unconflicted.
//
// The first set's doubtful keys are found in one pass over it. A key that
// only other sets hold is found in a pass over those sets, made only for a
// set with such keys: a set's entries not matched by address are entries
// of the first set's doubtful keys (counted here) or of keys outside the
// first set (the rest).
func (s *splitter) judgeDoubtful(c *addrComparison) {
	sets := s.sets
	outside := slices.Clone(c.unmatched) // per set: entries of keys outside the first set
	for k, v := range sets[0] {
		a, fits := addrOf(k, v)
		if !c.doubt.has(a.h) {
			continue
		}
		var bits uint64 // which sets hold this entry by addr
		if fits {
			bits = c.matchedBy(a)
		}
		same := true
		for i, set := range sets[1:] {
			w, ok := set[k]
			if ok && bits&(1<<(i+1)) == 0 {
				outside[i+1]-- // one of the set's unmatched entries
			}
			if !ok || w != v {
				same = false
			}
		}
		if !same {
			s.conflict(k)
		}
	}
	var keys map[StateKey]struct{}
	for i, set := range sets[1:] {
		if outside[i+1] == 0 {
			continue
		}
		for k, v := range set {
			if a, _ := addrOf(k, v); !c.doubt.has(a.h) {
				continue
			}
			if _, ok := sets[0][k]; ok {
				continue
			}
			if keys == nil {
				keys = make(map[StateKey]struct{})
			}
			if _, done := keys[k]; !done {
				keys[k] = struct{}{}
				s.conflict(k) // not in the first set, so conflicted
			}
		}
	}
}

// addr names a state map entry by where its strings live: the data
// addresses of its type, state key and value, and their lengths. Two
// entries with the same addr hold equal strings (strings are immutable).
// The addresses are only compared, never turned back into pointers; the
// sets keep the strings alive while split runs, and Go's heap does not
// move. Entries with equal strings elsewhere in memory get different
// addrs: that only sends them to the comparison by content.
type addr struct {
	h    uint64     // hash of the rest: the sort key
	p    [3]uintptr // data addresses (0 for an empty string)
	lens uint64     // the three lengths, lenBits each
}

// lenBits is how many bits of addr.lens each length gets. Longer strings
// (far beyond anything an event holds) make addrOf report !ok.
const lenBits = 21

// addrOf returns the addr of an entry; ok is false if a length does not
// fit, and then only a.h is meaningful.
func addrOf(k StateKey, v string) (a addr, ok bool) {
	a.p = [3]uintptr{dataOf(k.Type), dataOf(k.StateKey), dataOf(v)}
	nt, nk, nv := uint64(len(k.Type)), uint64(len(k.StateKey)), uint64(len(v))
	a.lens = nt | nk<<lenBits | nv<<(2*lenBits)
	a.h = mix(uint64(a.p[0]), uint64(a.p[1]), uint64(a.p[2]), a.lens)
	return a, (nt|nk|nv)>>lenBits == 0
}

// dataOf returns the address of a string's bytes, 0 for the empty string
// (whose address means nothing).
func dataOf(s string) uintptr {
	if len(s) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.StringData(s)))
}

// mix hashes four words (multiply and xor-shift rounds, ending in the
// splitmix64 finaliser so that the top bits, which the radix sort reads
// first, depend on every input bit).
func mix(a, b, c, d uint64) uint64 {
	const m1, m2 = 0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9
	h := a * m1
	h = (h ^ h>>31 ^ b) * m2
	h = (h ^ h>>31 ^ c) * m1
	h = (h ^ h>>31 ^ d) * m2
	h ^= h >> 30
	h *= m2
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// addrComparison is what compareByAddress learnt.
type addrComparison struct {
	// doubt holds the hashes of the entries not found, by addr, in every
	// set: the entries of conflicted keys, and of keys held with separate
	// copies of their strings.
	doubt *hashSet
	first []addr   // the first set's addrs, sorted by hash
	sets  []uint64 // sets[x]: bit i set if set i holds first[x] (by addr)
	// unmatched[i]: the entries of set i that match none of the first
	// set's by addr.
	unmatched []int
}

// matchedBy returns which sets hold the first set's entry a by addr (0 if
// a is not among the first set's addrs).
func (c *addrComparison) matchedBy(a addr) uint64 {
	x, _ := slices.BinarySearchFunc(c.first, a.h, func(e addr, h uint64) int {
		return cmp.Compare(e.h, h)
	})
	for ; x < len(c.first) && c.first[x].h == a.h; x++ {
		if c.first[x].p == a.p && c.first[x].lens == a.lens {
			return c.sets[x]
		}
	}
	return 0
}

// compareByAddress compares the sets' entries (at most 64 sets) by addr.
// It returns ok false when the entries in doubt are more than half of all
// entries: then comparing the whole sets by content is cheaper (each
// doubtful key costs a lookup in every set).
//
// The first set's addrs and then each other set's are sorted by hash (a
// radix sort, which streams) and merged: an entry of another set matches
// at most one of the first set's (a map holds a key once, and equal addrs
// mean equal keys), so an entry of the first set matched by every other
// set is held by all of them with the same value.
func compareByAddress(sets []StateMap) (c *addrComparison, ok bool) {
	total, longest := 0, 0
	for _, s := range sets {
		total += len(s)
		longest = max(longest, len(s))
	}
	limit := total / 2
	c = &addrComparison{doubt: &hashSet{}, unmatched: make([]int, len(sets))}
	// One allocation for the three buffers: the first set's addrs, the
	// other set's being merged, and the sort's scratch.
	buf := make([]addr, len(sets[0])+2*longest)
	scratch := buf[len(sets[0])+longest:]
	c.first, _ = sortedAddrs(sets[0], buf[:0:len(sets[0])], scratch, c.doubt)
	c.sets = make([]uint64, len(c.first))
	other := buf[len(sets[0]) : len(sets[0]) : len(sets[0])+longest]
	for i, set := range sets[1:] {
		var long int
		other, long = sortedAddrs(set, other[:0], scratch, c.doubt)
		c.unmatched[i+1] = long + mergeAddrs(c.first, other, c.sets, uint64(1)<<(i+1), c.doubt)
		if len(c.doubt.list) > limit {
			return nil, false
		}
	}
	all := (uint64(1)<<(len(sets)-1) - 1) << 1 // bits 1 .. len(sets)-1
	for x, m := range c.sets {
		if m != all {
			c.doubt.add(c.first[x].h)
		}
	}
	if len(c.doubt.list) > limit {
		return nil, false
	}
	c.doubt.seal()
	return c, true
}

// sortedAddrs appends the addrs of a set's entries to buf, sorted by hash.
// Entries whose addr does not fit go to doubt instead; long counts them.
func sortedAddrs(set StateMap, buf, scratch []addr, doubt *hashSet) (_ []addr, long int) {
	for k, v := range set {
		a, ok := addrOf(k, v)
		if !ok {
			doubt.add(a.h)
			long++
			continue
		}
		buf = append(buf, a)
	}
	sortAddrs(buf, scratch[:len(buf)], 64)
	return buf, long
}

// mergeAddrs walks two hash-sorted addr lists: each entry of b found in a
// sets bit in matched for it, each entry of b not found goes to doubt. It
// returns how many were not found.
func mergeAddrs(a, b []addr, matched []uint64, bit uint64, doubt *hashSet) (unmatched int) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].h < b[j].h:
			i++
		case a[i].h > b[j].h:
			doubt.add(b[j].h)
			unmatched++
			j++
		default:
			// The runs of this hash in both (almost always one entry
			// each; more only when different addrs share a hash).
			h := a[i].h
			ie, je := i+1, j+1
			for ie < len(a) && a[ie].h == h {
				ie++
			}
			for je < len(b) && b[je].h == h {
				je++
			}
			for y := j; y < je; y++ {
				hit := false
				for x := i; x < ie; x++ {
					if a[x].p == b[y].p && a[x].lens == b[y].lens {
						matched[x] |= bit
						hit = true
						break
					}
				}
				if !hit {
					doubt.add(h)
					unmatched++
				}
			}
			i, j = ie, je
		}
	}
	for ; j < len(b); j++ {
		doubt.add(b[j].h)
		unmatched++
	}
	return unmatched
}

// sortAddrs orders as by hash, using scratch (as long as as) as the
// partition buffer: a most-significant-digit radix sort on the hash bits
// below bit number below. Each level is one counting pass and one
// streaming scatter; parts of 16 or fewer are finished by insertion.
func sortAddrs(as, scratch []addr, below uint) {
	n := len(as)
	if n <= 16 || below == 0 {
		for i := 1; i < n; i++ {
			for j := i; j > 0 && as[j].h < as[j-1].h; j-- {
				as[j], as[j-1] = as[j-1], as[j]
			}
		}
		return
	}
	// About four entries per bucket, at most 256 buckets (256 write
	// streams still stream).
	width := min(uint(max(bits.Len(uint(n))-2, 1)), 8, below)
	shift := below - width
	mask := uint64(1)<<width - 1
	var start [257]int
	for i := range as {
		start[(as[i].h>>shift)&mask+1]++
	}
	for b := 1; b <= 1<<width; b++ {
		start[b] += start[b-1]
	}
	next := start
	for i := range as {
		b := (as[i].h >> shift) & mask
		scratch[next[b]] = as[i]
		next[b]++
	}
	copy(as, scratch)
	for b := 0; b < 1<<width; b++ {
		lo, hi := start[b], start[b+1]
		sortAddrs(as[lo:hi], scratch[lo:hi], shift)
	}
}

// hashSet is a set of hashes, filled by add and read by has after seal:
// a bitmap filter in front of a sorted list, so that the common answer
// (not in the set) costs one load.
type hashSet struct {
	list   []uint64
	filter []uint64
	mask   uint64
}

// add puts h in the set (duplicates are fine).
func (s *hashSet) add(h uint64) { s.list = append(s.list, h) }

// seal sorts the list and builds the filter: about 16 bits per hash.
func (s *hashSet) seal() {
	slices.Sort(s.list)
	s.list = slices.Compact(s.list)
	nbits := uint64(1024)
	for nbits < uint64(len(s.list))*16 {
		nbits <<= 1
	}
	s.filter = make([]uint64, nbits/64)
	s.mask = nbits - 1
	for _, h := range s.list {
		b := h & s.mask
		s.filter[b/64] |= 1 << (b % 64)
	}
}

// has reports whether h is in the set.
func (s *hashSet) has(h uint64) bool {
	b := h & s.mask
	if s.filter[b/64]&(1<<(b%64)) == 0 {
		return false
	}
	_, found := slices.BinarySearch(s.list, h)
	return found
}
