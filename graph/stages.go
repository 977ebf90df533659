package graph

import "fmt"

// Stage semantics as b_crm_status.SEMANTICS stores them
// (Bitrix\Crm\PhaseSemantics: PROCESS is stored as NULL or empty).
const (
	StageInProgress = ""
	StageSuccess    = "S"
	StageFailure    = "F"
)

// KeySemantics is the semantics Bitrix's own default stage sets give a
// stage key (CCrmStatus::GetDefaultDealStages: WON S, LOSE and APOLOGY F;
// GetDefaultLeadStatuses: CONVERTED S, JUNK F; Service/Scenario/
// DefaultStages.php: SUCCESS S, FAIL F — crm/classes/general/crm_status.php,
// yuliai/bitrix-modules @ a3a2a579ba9f). A new stage with such a key is
// written with it; any other new stage is in progress, or a failure stage
// when it comes after a final one (StageSemantics).
func KeySemantics(key string) string {
	switch key {
	case "won", "success", "converted":
		return StageSuccess
	case "lose", "fail", "junk", "apology":
		return StageFailure
	}
	return StageInProgress
}

// StageOrderProblem is a stage whose place in its pipeline contradicts
// the order Bitrix keeps: in-progress stages, then the one success stage,
// then the failure stages.
type StageOrderProblem struct {
	Stage, Semantics string // the stage and its semantics
	After, AfterSem  string // the earlier stage it conflicts with
	// Inferred: not a contradiction but a new stage that Bitrix makes a
	// failure stage because it comes after a final one (a warning); After
	// is then the first final stage.
	Inferred bool
}

func semName(s string) string {
	switch s {
	case StageSuccess:
		return "success"
	case StageFailure:
		return "failure"
	}
	return "in-progress"
}

func (p StageOrderProblem) String() string {
	switch {
	case p.Inferred:
		return fmt.Sprintf("new stage %q comes after the %s stage %q, so Bitrix makes it a failure stage", p.Stage, semName(p.AfterSem), p.After)
	case p.Semantics == StageSuccess && p.AfterSem == StageSuccess:
		return fmt.Sprintf("stage %q is a second success stage besides %q; a pipeline has exactly one", p.Stage, p.After)
	}
	return fmt.Sprintf("the %s stage %q comes after the %s stage %q", semName(p.Semantics), p.Stage, semName(p.AfterSem), p.After)
}

func semRank(s string) int {
	switch s {
	case StageSuccess:
		return 1
	case StageFailure:
		return 2
	}
	return 0
}

// StageSemantics returns the semantics every stage of a pipeline has once
// written in the given order, and where that order contradicts them. live
// are the stages already on the portal, in their order there, with their
// SEMANTICS: such a stage keeps it (Bitrix never changes a success stage's
// semantics, StatusTable::onBeforeUpdate). A new stage gets
// KeySemantics(key) when that is failure, or success while the pipeline
// has no success stage; otherwise it is a failure stage if it comes after
// a success or failure stage — StatusTable::onBeforeAdd
// (crm/lib/statustable.php) stores a stage added without SEMANTICS and
// sorted after the success stage as a failure; CCrmStatus::Add, behind
// REST and the UI, would send PROCESS and be refused there, so writers
// pass F explicitly — and in progress if not.
//
// Bitrix keeps in-progress < success < failure in SORT order: onBeforeAdd
// refuses a failure stage sorted before the success stage
// (CRM_STATUS_INCORRECT_SEMANTIC_SORT_ERROR), an in-progress one sorted
// after it (CRM_STATUS_INCORRECT_PROCESS_SEMANTIC_SORT_ERROR) and a second
// success stage (CRM_STATUS_MORE_THAN_ONE_SUCCESS_ERROR). A declared order
// that breaks this is a problem (not Inferred): the stages' semantics come
// from the portal, not the policy, so b24perm cannot write that order, and
// reordering by semantics instead would leave a plan that never converges.
// Two portal stages that already stand in that order are no problem:
// Bitrix does not check the SORT of existing rows (onBeforeUpdate), older
// portals hold such pipelines, and b24perm leaves unmoved rows alone.
func StageSemantics(stages []Stage, live []Stage) ([]string, []StageOrderProblem) {
	sems := make([]string, len(stages))
	pos := map[string]int{}
	hasSuccess := false
	for i, s := range live {
		pos[s.Key] = i
	}
	for _, s := range stages {
		if i, ok := pos[s.Key]; ok && live[i].Semantics == StageSuccess {
			hasSuccess = true
		}
	}
	var problems []StageOrderProblem
	final := -1 // the first success or failure stage so far
	for j, s := range stages {
		i, ok := pos[s.Key]
		sem := ""
		if ok {
			sem = live[i].Semantics
		} else {
			switch k := KeySemantics(s.Key); {
			case k == StageFailure, k == StageSuccess && !hasSuccess:
				sem = k
				hasSuccess = hasSuccess || k == StageSuccess
			case final >= 0:
				sem = StageFailure
				problems = append(problems, StageOrderProblem{Stage: s.Key, Semantics: sem, After: stages[final].Key, AfterSem: sems[final], Inferred: true})
			}
		}
		sems[j] = sem
		if sem != StageInProgress && final < 0 {
			final = j
		}
	}
	for j := range stages {
		for i := range j {
			bad := semRank(sems[j]) < semRank(sems[i]) || sems[j] == StageSuccess && sems[i] == StageSuccess
			li, iok := pos[stages[i].Key]
			lj, jok := pos[stages[j].Key]
			if bad && !(iok && jok && li < lj) {
				problems = append(problems, StageOrderProblem{Stage: stages[j].Key, Semantics: sems[j], After: stages[i].Key, AfterSem: sems[i]})
				break
			}
		}
	}
	return sems, problems
}
