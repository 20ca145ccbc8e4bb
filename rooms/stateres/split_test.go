package stateres

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"
)

// splitByLookup is split written straight from the spec's sentence, key by
// key through the maps: the reference the hash-ordered split must match.
func splitByLookup(sets []StateMap) (unconflicted StateMap, conflicted []string, perSet []map[string]bool) {
	unconflicted = StateMap{}
	isConflicted := map[string]bool{}
	perSet = make([]map[string]bool, len(sets))
	for i := range perSet {
		perSet[i] = map[string]bool{}
	}
	keys := map[StateKey]bool{}
	for _, s := range sets {
		for k := range s {
			keys[k] = true
		}
	}
	for k := range keys {
		v, same := sets[0][k]
		for _, s := range sets {
			if w, ok := s[k]; !ok || w != v {
				same = false
			}
		}
		if same {
			unconflicted[k] = v
			continue
		}
		for i, s := range sets {
			if w, ok := s[k]; ok {
				isConflicted[w] = true
				perSet[i][w] = true
			}
		}
	}
	for v := range isConflicted {
		conflicted = append(conflicted, v)
	}
	sort.Strings(conflicted)
	return unconflicted, conflicted, perSet
}

// randomSets builds nsets state maps over a shared pool of keys, each set
// keeping most keys of a common base, changing or dropping some and adding
// others; values sometimes repeat under another key. copies says how often
// (out of 8) a set holds its own copies of the strings rather than the
// base's: 0 never, 8 always (each set decoded on its own).
func randomSets(rng *rand.Rand, nsets, nkeys, copies int) []StateMap {
	base := StateMap{}
	for i := 0; i < nkeys; i++ {
		base[StateKey{"m.room.member", fmt.Sprintf("@u%d:x", i)}] = fmt.Sprintf("$base%d", i)
	}
	sets := make([]StateMap, nsets)
	for s := range sets {
		m := StateMap{}
		for k, v := range base {
			switch rng.Intn(20) {
			case 0: // dropped
			case 1:
				m[k] = fmt.Sprintf("$change%d", rng.Intn(nkeys+1)) // may repeat across sets and keys
			default:
				if rng.Intn(8) < copies {
					k = StateKey{strings.Clone(k.Type), strings.Clone(k.StateKey)}
					v = strings.Clone(v)
				}
				m[k] = v
			}
		}
		for i := 0; i < rng.Intn(3); i++ {
			m[StateKey{"m.room.topic", fmt.Sprint(rng.Intn(3))}] = fmt.Sprintf("$t%d", rng.Intn(4))
		}
		for i := 0; i < rng.Intn(3); i++ { // a new member on this set only, or on several
			m[StateKey{"m.room.member", fmt.Sprintf("@new%d:x", rng.Intn(4))}] = fmt.Sprintf("$n%d", rng.Intn(4))
		}
		sets[s] = m
	}
	return sets
}

// TestSplitMatchesDefinition compares split with splitByLookup on random
// sets: 1 to 70 sets (more than one word of set bits elsewhere), small and
// large key counts, and checks that the input sets are left as they were.
func TestSplitMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for c := 0; c < 300; c++ {
		nsets := 1 + rng.Intn(6)
		if c%25 == 0 {
			nsets = 65 + rng.Intn(6)
		}
		nkeys := rng.Intn(40)
		if c%30 == 0 {
			nkeys = 3000 + rng.Intn(3000) // several radix levels
		}
		sets := randomSets(rng, nsets, nkeys, []int{0, 0, 1, 8}[c%4])
		before := make([]StateMap, len(sets))
		for i, s := range sets {
			before[i] = StateMap{}
			for k, v := range s {
				before[i][k] = v
			}
		}
		wantU, wantC, wantPer := splitByLookup(sets)
		// Both ways: by address wherever possible, by content always.
		for _, min := range []int{0, 1 << 30} {
			byAddressMin = min
			gotU, gotC, gotPer := split(sets)
			byAddressMin = defaultByAddressMin
			if fmt.Sprint(gotU) != fmt.Sprint(wantU) {
				t.Fatalf("case %d: unconflicted map differs: %d keys, want %d", c, len(gotU), len(wantU))
			}
			if !slices.Equal(gotC, wantC) {
				t.Fatalf("case %d: conflicted %v, want %v", c, gotC, wantC)
			}
			for i := range sets {
				got := map[string]bool{}
				for _, v := range gotPer[i] {
					got[v] = true
				}
				if fmt.Sprint(got) != fmt.Sprint(wantPer[i]) {
					t.Fatalf("case %d: set %d conflicted values %v, want %v", c, i, got, wantPer[i])
				}
			}
		}
		for i := range sets {
			if fmt.Sprint(sets[i]) != fmt.Sprint(before[i]) {
				t.Fatalf("case %d: split modified set %d", c, i)
			}
		}
	}
}

// TestSplitCompareByAddress checks which path split takes: sets sharing
// their strings are settled by address (only the changed keys are in
// doubt), sets with their own copies are compared by content.
func TestSplitCompareByAddress(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	shared := randomSets(rng, 5, 2000, 0)
	c, ok := compareByAddress(shared)
	if !ok {
		t.Fatal("sets sharing their strings: compared by content")
	}
	if n := len(c.doubt.list); n == 0 || n > 5*2000/2 {
		t.Fatalf("sets sharing their strings: %d hashes in doubt", n)
	}
	copied := randomSets(rng, 5, 2000, 8)
	if _, ok := compareByAddress(copied); ok {
		t.Fatal("sets with their own copies of every string: settled by address")
	}
}

// TestMergeAddrsCollisions gives mergeAddrs different addrs under one hash
// (possible, if unlikely): only an exact addr match counts.
func TestMergeAddrsCollisions(t *testing.T) {
	x := addr{h: 5, p: [3]uintptr{1, 2, 3}, lens: 1}
	y := addr{h: 5, p: [3]uintptr{1, 2, 4}, lens: 1}
	z := addr{h: 5, p: [3]uintptr{1, 2, 3}, lens: 2} // same addresses, other lengths
	w := addr{h: 9, p: [3]uintptr{7, 7, 7}, lens: 1}
	a := []addr{x, y, w}
	b := []addr{z, y}
	matched := make([]uint64, len(a))
	doubt := &hashSet{}
	if n := mergeAddrs(a, b, matched, 4, doubt); n != 1 {
		t.Fatalf("%d unmatched, want 1", n)
	}
	if !slices.Equal(matched, []uint64{0, 4, 0}) {
		t.Fatalf("matched %v, want [0 4 0]", matched)
	}
	doubt.seal()
	if !doubt.has(5) || doubt.has(9) || len(doubt.list) != 1 {
		t.Fatalf("doubt %v, want [5]", doubt.list)
	}
}

// TestSortAddrs checks the radix sort against a comparison sort on random
// hashes, with repeats and lengths around the cut-offs.
func TestSortAddrs(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, n := range []int{0, 1, 2, 15, 16, 17, 100, 1000, 70000} {
		as := make([]addr, n)
		for i := range as {
			h := rng.Uint64()
			if rng.Intn(4) == 0 && i > 0 {
				h = as[rng.Intn(i)].h // repeats
			}
			if rng.Intn(8) == 0 {
				h &= 0xff // only low bits set: the last radix levels
			}
			as[i] = addr{h: h, lens: uint64(i)}
		}
		want := slices.Clone(as)
		slices.SortStableFunc(want, func(x, y addr) int { return cmp.Compare(x.h, y.h) })
		sortAddrs(as, make([]addr, n), 64)
		for i := range as {
			if as[i].h != want[i].h {
				t.Fatalf("n=%d: position %d has hash %x, want %x", n, i, as[i].h, want[i].h)
			}
		}
		got := map[uint64]uint64{} // lens (the entry's number) -> hash
		for _, a := range as {
			got[a.lens] = a.h
		}
		for _, a := range want {
			if h, ok := got[a.lens]; !ok || h != a.h {
				t.Fatalf("n=%d: entry %d lost or changed", n, a.lens)
			}
		}
	}
}

// TestHashSet checks membership through the filter and the list.
func TestHashSet(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	s := &hashSet{}
	in := map[uint64]bool{}
	for i := 0; i < 5000; i++ {
		h := rng.Uint64()
		in[h] = true
		s.add(h)
		s.add(h) // duplicates are fine
	}
	s.seal()
	for h := range in {
		if !s.has(h) {
			t.Fatalf("%x missing", h)
		}
	}
	for i := 0; i < 100000; i++ {
		if h := rng.Uint64(); s.has(h) != in[h] {
			t.Fatalf("%x: has %v", h, s.has(h))
		}
	}
}

// TestSplitLongStrings gives split strings too long for an addr's length
// fields: they are compared by content, shared or not.
func TestSplitLongStrings(t *testing.T) {
	long := strings.Repeat("x", 1<<lenBits)
	other := strings.Clone(long)
	base := StateMap{}
	for i := 0; i < 100; i++ {
		base[StateKey{"m.room.member", fmt.Sprintf("@u%d:x", i)}] = fmt.Sprintf("$e%d", i)
	}
	sets := make([]StateMap, 3)
	for i := range sets {
		sets[i] = StateMap{}
		for k, v := range base {
			sets[i][k] = v
		}
	}
	sets[0][StateKey{"long", ""}] = long  // equal content in every set,
	sets[1][StateKey{"long", ""}] = other // one of them a separate copy
	sets[2][StateKey{"long", ""}] = long
	sets[0][StateKey{"t", long}] = "$a" // a long key, values differ
	sets[1][StateKey{"t", long}] = "$a"
	sets[2][StateKey{"t", long}] = "$b"
	sets[1][StateKey{"only", long}] = "$c" // a long key outside the first set
	byAddressMin = 0
	defer func() { byAddressMin = defaultByAddressMin }()
	gotU, gotC, _ := split(sets)
	wantU, wantC, _ := splitByLookup(sets)
	if len(gotU) != len(wantU) || gotU[StateKey{"long", ""}] != long {
		t.Fatalf("unconflicted: %d keys, want %d", len(gotU), len(wantU))
	}
	if !slices.Equal(gotC, wantC) {
		t.Fatalf("conflicted %v, want %v", gotC, wantC)
	}
}

// FuzzSplit builds state sets from the fuzzer's bytes (keys and values
// from a small alphabet, so sets collide; strings shared between sets or
// separate copies) and checks split against splitByLookup, by address and
// by content.
//
//	go test -run XXX -fuzz FuzzSplit ./rooms/stateres/
func FuzzSplit(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("\x03\x00\x10\x21\x32\x43\x54\x65\x76\x87\x98\xa9\xba\xcb"))
	f.Add(bytes.Repeat([]byte{0x5a, 0x13, 0xff, 0x00}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		nsets := 1 + int(data[0])%6
		if data[0] >= 250 {
			nsets = 65 + int(data[0])%3 // more than 64: by content
		}
		// A pool of strings each set may hold as they are or as copies.
		pool := []string{"", "m.room.member", "m.room.topic", "@a:x", "@b:x", "$1", "$2", "$3", "x"}
		sets := make([]StateMap, nsets)
		for i := range sets {
			sets[i] = StateMap{}
		}
		for i := 1; i+1 < len(data); i += 2 {
			b, c := data[i], data[i+1]
			s := sets[int(b)%nsets]
			str := func(n byte) string {
				v := pool[int(n)%len(pool)]
				if c&0x80 != 0 {
					v = strings.Clone(v)
				}
				return v
			}
			k := StateKey{str(b >> 3), str(c)}
			if c&0x40 != 0 {
				for _, other := range sets { // the same entry in every set
					other[k] = str(c >> 2)
				}
				continue
			}
			s[k] = str(c >> 3)
		}
		wantU, wantC, wantPer := splitByLookup(sets)
		defer func() { byAddressMin = defaultByAddressMin }()
		for _, min := range []int{0, 1 << 30} {
			byAddressMin = min
			gotU, gotC, gotPer := split(sets)
			if !maps.Equal(gotU, wantU) {
				t.Fatalf("unconflicted %v, want %v", gotU, wantU)
			}
			if !slices.Equal(gotC, wantC) {
				t.Fatalf("conflicted %v, want %v", gotC, wantC)
			}
			for i := range sets {
				for _, v := range gotPer[i] {
					if !wantPer[i][v] {
						t.Fatalf("set %d: %q listed as conflicted", i, v)
					}
				}
				for v := range wantPer[i] {
					if !slices.Contains(gotPer[i], v) {
						t.Fatalf("set %d: conflicted %q missing", i, v)
					}
				}
			}
		}
	})
}
