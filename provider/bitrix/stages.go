package bitrix

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// StageRow is one stage of a pipeline as it is stored after a change: an
// existing b_crm_status row (Row its index in the rows given to
// PlanStages) or a new one (Row -1), with its SORT and SEMANTICS.
type StageRow struct {
	Key       string
	Row       int
	Sort      int
	Semantics string
}

// PlanStages orders a pipeline's stages as Bitrix keeps them. rows are the
// category's b_crm_status rows, at most one per stage key; stages the
// stages it should have, in order. Existing rows keep their SEMANTICS; new
// ones get graph.StageSemantics's. It fails, before anything is written,
// when the order contradicts the semantics (in progress < success <
// failure, crm/lib/statustable.php StatusTable::onBeforeAdd).
//
// SORT: the longest run of existing rows that already stand in the new
// order keeps its values, so a change touches only the rows it moves or
// adds (an unchanged pipeline keeps every SORT). The others get values
// between their kept neighbours; after the last one the next multiples of
// 10 above it, as Bitrix appends (max SORT + 10: crm/lib/Feature/
// RepeatSale.php, category/entity/category.php SORT_INCREMENT); without
// any kept row 10, 20, 30… as Bitrix's own stage sets
// (Service/Scenario/DefaultStages.php). Only when no integer fits between
// two kept rows is the whole pipeline renumbered 10, 20, 30…, as
// UpdateStageList does (crm/lib/integration/ai/function/deal/category/
// updatestagelist.php, SORT_STEP 10). Bitrix orders stages by SORT, then
// ID (StatusTable::loadStatusesByEntityId), and so does the reader.
func PlanStages(rows []Status, stages []graph.Stage) ([]StageRow, error) {
	byKey := map[string]int{}
	order := make([]int, len(rows))
	for i, r := range rows {
		byKey[stageKey(r.StatusID)] = i
		order[i] = i
	}
	// The portal's order: SORT, then ID (StatusTable::loadStatusesByEntityId).
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(rows[a].Sort, rows[b].Sort), cmp.Compare(rows[a].ID, rows[b].ID))
	})
	live := make([]graph.Stage, 0, len(rows))
	for _, i := range order {
		live = append(live, graph.Stage{Key: stageKey(rows[i].StatusID), Semantics: rowSemantics(rows[i].Semantics)})
	}
	sems, problems := graph.StageSemantics(stages, live)
	var errs []error
	for _, p := range problems {
		if !p.Inferred {
			errs = append(errs, errors.New(p.String()))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("stage order: %w; Bitrix keeps in-progress stages before the success stage and failure stages after it", errors.Join(errs...))
	}
	out := make([]StageRow, len(stages))
	for j, s := range stages {
		out[j] = StageRow{Key: s.Key, Row: -1, Semantics: sems[j]}
		if i, ok := byKey[s.Key]; ok {
			out[j].Row = i
			out[j].Sort = rows[i].Sort
		}
	}
	stageSorts(out, rows)
	return out, nil
}

// stageSorts sets the SORT of every row (see PlanStages).
func stageSorts(out []StageRow, rows []Status) {
	n := len(out)
	before := func(i, j int) bool { // row i stands before row j now
		a, b := rows[out[i].Row], rows[out[j].Row]
		return a.Sort < b.Sort || a.Sort == b.Sort && a.ID < b.ID
	}
	// The longest chain of existing rows already in the new order.
	length, prev := make([]int, n), make([]int, n)
	last := -1
	for j := range out {
		prev[j] = -1
		if out[j].Row < 0 {
			continue
		}
		length[j] = 1
		for i := range j {
			if out[i].Row >= 0 && before(i, j) && length[i]+1 > length[j] {
				length[j], prev[j] = length[i]+1, i
			}
		}
		if last < 0 || length[j] > length[last] {
			last = j
		}
	}
	kept := make([]bool, n)
	for j := last; j >= 0; j = prev[j] {
		kept[j] = true
	}
	for j := 0; j < n; {
		if kept[j] {
			j++
			continue
		}
		k := j
		for k < n && !kept[k] {
			k++
		}
		lo, hi := 0, 0
		if j > 0 {
			lo = out[j-1].Sort
		}
		if k < n {
			hi = out[k].Sort
		}
		if !fillSorts(out[j:k], j > 0, lo, k < n, hi) {
			for i := range out {
				out[i].Sort = (i + 1) * 10
			}
			return
		}
		j = k
	}
}

// fillSorts gives the rows increasing SORT values above lo (if hasLo) and
// below hi (if hasHi), all above 0 (CCrmStatus::Add stores SORT <= 0 as
// 10). It reports false when they do not fit.
func fillSorts(run []StageRow, hasLo bool, lo int, hasHi bool, hi int) bool {
	k := len(run)
	switch {
	case !hasHi:
		for i := range run {
			run[i].Sort = lo + (i+1)*10
		}
	case !hasLo && hi-10*k > 0:
		for i := range run {
			run[i].Sort = hi - 10*(k-i)
		}
	default:
		if hi-lo-1 < k {
			return false
		}
		for i := range run {
			run[i].Sort = lo + (hi-lo)*(i+1)/(k+1)
		}
	}
	return true
}

// rowSemantics is a b_crm_status.SEMANTICS value as graph.StageSemantics
// knows it: S, F, or "" for in progress (PhaseSemantics::PROCESS 'P' and
// NULL; crm/lib/phasesemantics.php).
func rowSemantics(s string) string {
	switch s = strings.TrimSpace(s); s {
	case graph.StageSuccess, graph.StageFailure:
		return s
	}
	return graph.StageInProgress
}
