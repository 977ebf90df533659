package compiler

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The former decoders of the CRM permission documents, kept as the
// reference for permScan: encoding/json at every level.
func refSplitActions(b []byte, keep func(string) bool) (Actions, map[string]json.RawMessage, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, err
	}
	acts := Actions{}
	rest := map[string]json.RawMessage{}
	for k, v := range raw {
		if keep(k) {
			rest[k] = v
			continue
		}
		l, err := decodeLevel(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", k, err)
		}
		acts[k] = l
	}
	return acts, rest, nil
}

func refStages(v json.RawMessage) (map[string]Actions, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	out := map[string]Actions{}
	for k, b := range raw {
		a, _, err := refSplitActions(b, func(string) bool { return false })
		if err != nil {
			return nil, err
		}
		out[k] = a
	}
	return out, nil
}

func refPipeline(b []byte) (PipelinePermsDoc, error) {
	acts, rest, err := refSplitActions(b, func(k string) bool { return k == "pipelines" || k == "stages" })
	if err != nil {
		return PipelinePermsDoc{}, err
	}
	p := PipelinePermsDoc{Actions: acts}
	if v, ok := rest["stages"]; ok {
		if p.Stages, err = refStages(v); err != nil {
			return p, err
		}
	}
	return p, nil
}

func refEntity(b []byte) (EntityPermsDoc, error) {
	acts, rest, err := refSplitActions(b, func(k string) bool { return k == "pipelines" || k == "stages" })
	if err != nil {
		return EntityPermsDoc{}, err
	}
	e := EntityPermsDoc{Actions: acts}
	if v, ok := rest["pipelines"]; ok {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(v, &raw); err != nil {
			return e, err
		}
		e.Pipelines = map[string]PipelinePermsDoc{}
		for k, pb := range raw {
			p, err := refPipeline(pb)
			if err != nil {
				return e, err
			}
			e.Pipelines[k] = p
		}
	}
	if v, ok := rest["stages"]; ok {
		if e.Stages, err = refStages(v); err != nil {
			return e, err
		}
	}
	return e, nil
}

func TestPermScanMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"read", "write", "transition", "pipelines", "stages", "w", "won"}
	var gen func(depth int) any
	gen = func(depth int) any {
		switch r := rng.IntN(10); {
		case r < 3:
			return []string{"own", "[x", "all", "none"}[rng.IntN(4)]
		case r < 5:
			l := []any{}
			for range rng.IntN(3) {
				l = append(l, []any{"b", "a", nil, 1}[rng.IntN(4)])
			}
			return l
		case r == 5:
			return []any{nil, 2, true}[rng.IntN(3)]
		}
		if depth > 3 {
			return "all"
		}
		m := map[string]any{}
		for range rng.IntN(4) {
			m[keys[rng.IntN(len(keys))]] = gen(depth + 1)
		}
		return m
	}
	same := 0
	for range 5000 {
		b, _ := json.Marshal(gen(0))
		want, werr := refEntity(b)
		var got EntityPermsDoc
		gerr := got.UnmarshalJSON(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: reference error %v, permScan error %v", b, werr, gerr)
		}
		if werr == nil {
			if !reflect.DeepEqual(normEntity(want), normEntity(got)) {
				t.Fatalf("%s:\nreference %#v\npermScan  %#v", b, want, got)
			}
			same++
		}
		wp, werr := refPipeline(b)
		var gp PipelinePermsDoc
		gerr = gp.UnmarshalJSON(b)
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(normPipeline(wp), normPipeline(gp)) {
			t.Fatalf("pipeline %s: reference %#v %v, permScan %#v %v", b, wp, werr, gp, gerr)
		}
	}
	if same < 500 {
		t.Fatalf("only %d decodable documents generated", same)
	}
}

// normEntity treats nil and empty maps alike (both decoders leave a map
// nil or empty for the same absent or null input).
func normEntity(e EntityPermsDoc) string { b, _ := json.Marshal(e); return string(b) }

func normPipeline(p PipelinePermsDoc) string { b, _ := json.Marshal(p); return string(b) }
