package compiler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Document is the decoded policy: the same shape in CUE and HCL. It is the
// input of the Go checks and of graph construction.
type Document struct {
	CRM struct {
		SmartProcesses map[string]struct {
			Name string `json:"name"`
		} `json:"smart_processes"`
		Pipelines map[string]map[string]PipelineDoc `json:"pipelines"`
		Roles     map[string]CRMRoleDoc             `json:"roles"`
	} `json:"crm"`
	Telephony struct {
		// Security is "off" on a cloud plan without the
		// voximplant_security feature: Bitrix then ignores the roles and
		// applies its defaults. Default "on".
		Security string                   `json:"security"`
		Roles    map[string]SimpleRoleDoc `json:"roles"`
	} `json:"telephony"`
	Openlines struct {
		Roles    map[string]SimpleRoleDoc  `json:"roles"`
		Channels map[string]OpenChannelDoc `json:"channels"`
	} `json:"openlines"`
	Workgroups map[string]WorkgroupDoc `json:"workgroups"`
	Fields     struct {
		Rules      map[string]FieldRuleDoc       `json:"rules"`
		Visibility map[string]FieldVisibilityDoc `json:"visibility"`
	} `json:"fields"`
	Settings *struct {
		Mode            map[string]string `json:"mode"`
		Protect         []string          `json:"protect"`
		SensitiveFields []string          `json:"sensitive_fields"`
	} `json:"settings"`
	Removed []struct {
		Address string `json:"address"`
		Reason  string `json:"reason"`
	} `json:"removed"`
	Tests []TestDoc `json:"tests"`
}

// PipelineDoc is a declared pipeline.
type PipelineDoc struct {
	Name   string `json:"name"`
	Stages map[string]struct {
		Name string `json:"name"`
	} `json:"stages"`
}

// SubjectDoc is a subject as written.
type SubjectDoc struct {
	User           *string `json:"user"`
	Department     *string `json:"department"`
	Subdepartments bool    `json:"subdepartments"`
	Group          *string `json:"group"`
	Workgroup      *string `json:"workgroup"`
	Members        string  `json:"members"`
	Code           *string `json:"code"`
}

// CRMRoleDoc is a CRM role as written.
type CRMRoleDoc struct {
	Name        string                    `json:"name"`
	Assign      []SubjectDoc              `json:"assign"`
	Permissions map[string]EntityPermsDoc `json:"permissions"`
}

// Actions maps action → level; transition lists are joined with ",".
type Actions map[string]string

// UnmarshalJSON accepts strings and, for transition, lists of stage keys.
func (a *Actions) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*a = Actions{}
	for k, v := range raw {
		l, err := decodeLevel(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		(*a)[k] = l
	}
	return nil
}

func decodeLevel(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		if strings.HasPrefix(s, "[") {
			// Not a level name (the schema says so): kept apart from a
			// list, which listLevel also writes with brackets, so that
			// chainLevelsValid cannot take the string for a list.
			return "\x00" + s, nil
		}
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return "", fmt.Errorf("want a level, a list of level-set members or a list of stage keys")
	}
	sort.Strings(list)
	return listLevel(list), nil
}

// listLevel marks a level written as a list ("[a,b]", sorted): the
// builder reads it as a set of level members or as transition targets,
// by action (see builder.levelOf).
func listLevel(items []string) string { return "[" + strings.Join(items, ",") + "]" }

// parseListLevel is the inverse of listLevel.
func parseListLevel(l string) ([]string, bool) {
	inner, ok := strings.CutPrefix(l, "[")
	if !ok {
		return nil, false
	}
	inner, ok = strings.CutSuffix(inner, "]")
	if !ok {
		return nil, false
	}
	if inner == "" {
		return []string{}, true
	}
	return strings.Split(inner, ","), true
}

// EntityPermsDoc is the permissions of one entity: actions at entity level
// plus pipeline and stage overrides.
type EntityPermsDoc struct {
	Actions   Actions
	Pipelines map[string]PipelinePermsDoc
	Stages    map[string]Actions
}

// PipelinePermsDoc is one pipeline's override.
type PipelinePermsDoc struct {
	Actions Actions
	Stages  map[string]Actions
}

func splitActions(b []byte) (Actions, map[string]json.RawMessage, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, err
	}
	acts := Actions{}
	rest := map[string]json.RawMessage{}
	for k, v := range raw {
		if k == "pipelines" || k == "stages" {
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

// UnmarshalJSON splits actions from pipelines/stages.
func (e *EntityPermsDoc) UnmarshalJSON(b []byte) error {
	acts, rest, err := splitActions(b)
	if err != nil {
		return err
	}
	e.Actions = acts
	if v, ok := rest["pipelines"]; ok {
		if err := json.Unmarshal(v, &e.Pipelines); err != nil {
			return err
		}
	}
	if v, ok := rest["stages"]; ok {
		if err := json.Unmarshal(v, &e.Stages); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalJSON splits actions from stages.
func (p *PipelinePermsDoc) UnmarshalJSON(b []byte) error {
	acts, rest, err := splitActions(b)
	if err != nil {
		return err
	}
	p.Actions = acts
	if v, ok := rest["stages"]; ok {
		if err := json.Unmarshal(v, &p.Stages); err != nil {
			return err
		}
	}
	return nil
}

// SimpleRoleDoc is a telephony or open-channel role.
type SimpleRoleDoc struct {
	Name        string                       `json:"name"`
	Assign      []SubjectDoc                 `json:"assign"`
	Permissions map[string]map[string]string `json:"permissions"`
}

// WorkgroupDoc is a workgroup as written.
// OpenChannelDoc is an open-channel configuration; Active defaults to true.
type OpenChannelDoc struct {
	Name      string       `json:"name"`
	Active    *bool        `json:"active"`
	QueueType string       `json:"queue_type"`
	Queue     []SubjectDoc `json:"queue"`
}

type WorkgroupDoc struct {
	Name       string `json:"name"`
	Visibility string `json:"visibility"`
	Archived   bool   `json:"archived"`
	// DisabledFeatures are the features switched off in the group.
	DisabledFeatures []string                     `json:"disabled_features"`
	Owner            string                       `json:"owner"`
	Moderators       []string                     `json:"moderators"`
	Members          []string                     `json:"members"`
	Features         map[string]map[string]string `json:"features"`
}

// FieldRuleDoc is a field rule.
type FieldRuleDoc struct {
	Entity   string       `json:"entity"`
	Pipeline string       `json:"pipeline"`
	Field    string       `json:"field"`
	Stages   []string     `json:"stages"`
	View     []SubjectDoc `json:"view"`
	Edit     []SubjectDoc `json:"edit"`
}

// FieldVisibilityDoc is a native custom-field visibility rule.
type FieldVisibilityDoc struct {
	Entity string       `json:"entity"`
	Field  string       `json:"field"`
	View   []SubjectDoc `json:"view"`
}

// TestDoc is a permission assertion.
type TestDoc struct {
	Name          string `json:"name"`
	User          string `json:"user"`
	NobodyOutside string `json:"nobody_outside"`
	Can           string `json:"can"`
	Cannot        string `json:"cannot"`
	Entity        string `json:"entity"`
	Item          string `json:"item"`
	Pipeline      string `json:"pipeline"`
	Stage         string `json:"stage"`
	To            string `json:"to"`
	Field         string `json:"field"`
	Level         string `json:"level"`
	Exactly       bool   `json:"exactly"`
}
