package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/b24perm/b24perm/provider/rest"
)

// channelPage is imopenlines.config.list.get's page size: it pages by
// PARAMS.limit (at most 200) and offset, without total.
const channelPage = 200

// channelListCmd asks for one page of open-channel configurations with
// their configured queue (CONFIG_QUEUE: users and departments as set, not
// the resolved QUEUE).
func channelListCmd(key string, offset int) rest.Cmd {
	return rest.Cmd{Key: key, Method: "imopenlines.config.list.get", Params: url.Values{
		"PARAMS[select][0]": {"ID"}, "PARAMS[select][1]": {"ACTIVE"}, "PARAMS[select][2]": {"LINE_NAME"}, "PARAMS[select][3]": {"QUEUE_TYPE"},
		"PARAMS[order][ID]": {"ASC"}, "PARAMS[limit]": {strconv.Itoa(channelPage)}, "PARAMS[offset]": {strconv.Itoa(offset)},
		"OPTIONS[CONFIG_QUEUE]": {"Y"}}}
}

type channelRow struct {
	ID          flexID   `json:"ID"`
	Active      flexBool `json:"ACTIVE"`
	Name        string   `json:"LINE_NAME"`
	QueueType   string   `json:"QUEUE_TYPE"`
	ConfigQueue []struct {
		Type string `json:"ENTITY_TYPE"`
		ID   flexID `json:"ENTITY_ID"`
	} `json:"CONFIG_QUEUE"`
}

// rows are the b_imopenlines_config row and its b_imopenlines_config_queue
// rows (SORT in steps of 10 in the answer's order; REST shows no row IDs).
func (r channelRow) rows() (bitrix.OLConfig, []bitrix.OLQueue) {
	c := bitrix.OLConfig{ID: int64(r.ID), LineName: r.Name, Active: yn(bool(r.Active)), QueueType: r.QueueType}
	q := make([]bitrix.OLQueue, 0, len(r.ConfigQueue))
	for i, e := range r.ConfigQueue {
		q = append(q, bitrix.OLQueue{Sort: int64(i+1) * 10, ConfigID: c.ID, EntityID: int64(e.ID), EntityType: e.Type})
	}
	return c, q
}

// queueEntry is one configured queue entry.
type queueEntry struct {
	Type string
	ID   int64
}

// state is what a channel's read-back is compared on.
func (r channelRow) state() (name string, active bool, queueType string, queue []queueEntry) {
	for _, e := range r.ConfigQueue {
		queue = append(queue, queueEntry{e.Type, int64(e.ID)})
	}
	return r.Name, bool(r.Active), r.QueueType, queue
}

// scopeMissing reports an answer that means "this webhook may not call
// that method family" rather than a fault.
func scopeMissing(err error) bool {
	var ae *rest.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case "insufficient_scope", "ACCESS_DENIED", "ERROR_METHOD_NOT_FOUND":
		return true
	}
	return false
}

// readChannels decodes the first page (fetched in Read's structure batch)
// and fetches the rest. A webhook without the imopenlines scope cannot see
// open channels: that is recorded, and the kind is left out of the
// backend's capabilities, instead of failing the whole read.
func (p *Provider) readChannels(ctx context.Context, first rest.BatchResult) ([]channelRow, error) {
	p.noChannels = ""
	if first.Err != nil {
		if scopeMissing(first.Err) {
			p.noChannels = fmt.Sprintf("open channels were not read: the webhook may not call imopenlines.config.list.get (%v); add the imopenlines scope to manage them", first.Err)
			return nil, nil
		}
		return nil, fmt.Errorf("imopenlines.config.list.get: %w", first.Err)
	}
	var out []channelRow
	raw := first.Result
	for offset := 0; ; {
		var rows []channelRow
		if err := json.Unmarshal(raw, &rows); err != nil {
			return nil, fmt.Errorf("imopenlines.config.list.get: unexpected answer: %v", err)
		}
		out = append(out, rows...)
		if len(rows) < channelPage {
			return out, nil
		}
		offset += channelPage
		res, err := p.c.Batch(ctx, []rest.Cmd{channelListCmd("ol", offset)}, true)
		if err != nil {
			return nil, err
		}
		if res["ol"].Err != nil {
			return nil, fmt.Errorf("imopenlines.config.list.get: %w", res["ol"].Err)
		}
		raw = res["ol"].Result
	}
}

// readLines decodes voximplant.line.get ({LINE_ID: name}); lines are
// information only, so a webhook without the telephony scope just has none.
func readLines(r rest.BatchResult) ([]graph.TelephonyLine, error) {
	if r.Err != nil {
		if scopeMissing(r.Err) {
			return nil, nil
		}
		return nil, fmt.Errorf("voximplant.line.get: %w", r.Err)
	}
	var m map[string]string
	if err := json.Unmarshal(r.Result, &m); err != nil {
		// An empty PHP array arrives as [].
		var empty []any
		if json.Unmarshal(r.Result, &empty) == nil && len(empty) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("voximplant.line.get: unexpected answer: %v", err)
	}
	var out []graph.TelephonyLine
	for id, name := range m {
		out = append(out, graph.TelephonyLine{ID: id, Name: name})
	}
	slices.SortFunc(out, func(a, b graph.TelephonyLine) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// applyChannels writes open-channel changes one call each (portals have
// few channels), then reads every channel back in one list call: a write
// the portal silently changed (e.g. a queue merged instead of replaced) is
// an error, not a success.
func (p *Provider) applyChannels(ctx context.Context, req provider.ApplyRequest, idx []int, ix *graph.Index) error {
	type want struct {
		name      string
		active    bool
		queueType string
		queue     []queueEntry
	}
	type done struct {
		outcome
		want *want
	}
	var ops []*done
	for _, i := range idx {
		ch := req.Changes[i]
		op := &done{outcome: outcome{index: i, id: ch.ID}}
		ops = append(ops, op)
		if ch.Action == plan.Delete {
			if _, err := p.c.Call(ctx, "imopenlines.config.delete", map[string]any{"CONFIG_ID": ch.ID}, false); err != nil {
				op.err = err
			}
			continue
		}
		c := ch.After.OpenChannel
		var queue []queueEntry
		for _, sub := range c.Queue {
			typ, id, err := ix.QueueEntry(sub)
			if err != nil {
				op.err = fmt.Errorf("open channel %q: %w", c.Name, err)
				break
			}
			queue = append(queue, queueEntry{typ, id})
		}
		if op.err != nil {
			continue
		}
		q := make([]map[string]any, 0, len(queue))
		for _, e := range queue {
			q = append(q, map[string]any{"ENTITY_TYPE": e.Type, "ENTITY_ID": e.ID})
		}
		params := map[string]any{"LINE_NAME": c.Name, "ACTIVE": yn(!c.Inactive), "QUEUE_TYPE": c.QueueType, "QUEUE": q}
		if ch.Action == plan.Create || ch.Action == plan.Replace {
			if ch.Action == plan.Replace && ch.ID != 0 {
				if _, err := p.c.Call(ctx, "imopenlines.config.delete", map[string]any{"CONFIG_ID": ch.ID}, false); err != nil {
					op.err = err
					continue
				}
			}
			r, err := p.c.Call(ctx, "imopenlines.config.add", map[string]any{"PARAMS": params}, false)
			if err != nil {
				op.err = err
				continue
			}
			var id flexID
			if err := json.Unmarshal(r.Result, &id); err != nil || id == 0 {
				op.err = fmt.Errorf("imopenlines.config.add: unexpected answer %s", r.Result)
				continue
			}
			op.id = int64(id)
		} else if _, err := p.c.Call(ctx, "imopenlines.config.update", map[string]any{"CONFIG_ID": ch.ID, "PARAMS": params}, false); err != nil {
			op.err = err
			continue
		}
		op.want = &want{c.Name, !c.Inactive, c.QueueType, queue}
	}
	// Read back.
	var live []channelRow
	var readErr error
	res, err := p.c.Batch(ctx, []rest.Cmd{channelListCmd("ol", 0)}, true)
	if err != nil {
		readErr = err
	} else {
		live, readErr = p.readChannels(ctx, res["ol"])
	}
	for _, op := range ops {
		if op.err != nil {
			continue
		}
		if readErr != nil {
			op.err = fmt.Errorf("read-back: %w", readErr)
			continue
		}
		i := slices.IndexFunc(live, func(c channelRow) bool { return int64(c.ID) == op.id })
		switch {
		case op.want == nil && i >= 0:
			op.err = fmt.Errorf("read-back: open channel %d is still on the portal", op.id)
		case op.want != nil && i < 0:
			op.err = fmt.Errorf("read-back: open channel %d is not on the portal", op.id)
		case op.want != nil:
			name, active, queueType, queue := live[i].state()
			want := op.want
			field := func(field string, g, w any) error {
				return fmt.Errorf("read-back: open channel %d: the portal did not keep %s: it reads back %v, b24perm wrote %v", op.id, field, g, w)
			}
			switch {
			case name != want.name:
				op.err = field("LINE_NAME", fmt.Sprintf("%q", name), fmt.Sprintf("%q", want.name))
			case active != want.active:
				op.err = field("ACTIVE", yn(active), yn(want.active))
			case queueType != want.queueType:
				op.err = field("QUEUE_TYPE", queueType, want.queueType)
			case !slices.Equal(queue, want.queue):
				op.err = field("QUEUE", queue, want.queue)
			}
		}
	}
	return report(req, ops)
}
