package consumer

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/laurel-server/laurel/channelsproto"
)

// maxFieldLen bounds a message field used in a group name; longer values
// cannot make a valid group name (channels allows fewer than 100 chars).
const maxFieldLen = 100

// handle processes one client message. Every failure becomes an error frame;
// the socket stays open.
func (sk *socket) handle(typ int, data []byte) {
	if typ != opText {
		sk.actionError(ErrCodeBinaryNotSupported, "binary frames are not supported; send JSON text")
		return
	}
	var buf [4]flatField
	msg, isObject, ok := parseObject(data, buf[:0])
	if !ok {
		sk.actionError(ErrCodeInvalidJSON, "message is not valid JSON")
		return
	}
	if !isObject {
		sk.actionError(ErrCodeInvalidMessage, "message must be a JSON object")
		return
	}
	name := msg.str("action")
	act, ok := sk.route.actions[name]
	if !ok {
		if name == "" {
			sk.actionError(ErrCodeUnknownAction, "message has no \"action\"")
		} else {
			sk.actionError(ErrCodeUnknownAction, fmt.Sprintf("unknown action %q", truncate(name, 64)))
		}
		return
	}
	badField := ""
	group, missing := act.tpl.expand(sk.lookup(func(f string) (string, bool) {
		s, ok := msg.text(f)
		if !ok {
			badField = f
		}
		return s, ok
	}))
	if missing != "" {
		field := missing
		if badField != "" {
			field = badField
		}
		if msg.has(field) {
			sk.actionError(ErrCodeInvalidPrefix+field, fmt.Sprintf("%s must be a string or an integer", field))
		} else {
			sk.actionError(ErrCodeInvalidPrefix+field, fmt.Sprintf("%s is required", field))
		}
		return
	}
	if err := sk.srv.cfg.ValidateGroup(group); err != nil {
		sk.actionError(ErrCodeInvalidPrefix+act.field,
			fmt.Sprintf("%s does not make a valid group name (ASCII letters, digits, hyphens, underscores or periods, fewer than 100 characters)", act.field))
		return
	}
	if act.join {
		sk.join(group)
	} else {
		sk.leave(group)
	}
}

// errorFrame is the error frame sent for code and message.
func errorFrame(code, message string) channelsproto.Map {
	return channelsproto.Map{
		{Key: "type", Value: "error"},
		{Key: "error", Value: code},
		{Key: "message", Value: message},
	}
}

func (sk *socket) actionError(code, message string) {
	sk.srv.m.actionError.Inc()
	sk.sendError(code, message)
}

func (sk *socket) join(group string) {
	sk.mu.Lock()
	if _, member := sk.groups[group]; member {
		sk.mu.Unlock()
		sk.srv.m.actionOK.Inc()
		return
	}
	if lim := sk.srv.cfg.SubscriptionLimit; lim > 0 && sk.actionGroups >= lim {
		sk.mu.Unlock()
		sk.actionError(ErrCodeSubscriptionLimit, fmt.Sprintf("at most %d subscriptions per connection", lim))
		return
	}
	sk.actionGroups++
	if sk.groups == nil {
		sk.groups = map[string]bool{}
	}
	sk.groups[group] = true
	sk.mu.Unlock()

	err := sk.srv.addMember(sk.srv.bound.ctx(), group, sk)
	if err != nil {
		sk.mu.Lock()
		if sk.groups[group] {
			delete(sk.groups, group)
			sk.actionGroups--
		}
		sk.mu.Unlock()
		sk.log(slog.LevelWarn, "group_add failed", slog.Any("err", err))
		sk.actionError(ErrCodeLayerUnavailable, "the channel layer is unavailable; try again")
		return
	}
	sk.srv.m.actionOK.Inc()
}

// leave discards a group joined by an action; groups joined on connect stay.
func (sk *socket) leave(group string) {
	sk.mu.Lock()
	byAction, member := sk.groups[group]
	if !member || !byAction {
		sk.mu.Unlock()
		sk.srv.m.actionOK.Inc()
		return
	}
	delete(sk.groups, group)
	sk.actionGroups--
	sk.mu.Unlock()

	err := sk.srv.dropMember(sk.srv.bound.ctx(), group, sk)
	if err != nil {
		sk.log(slog.LevelWarn, "group_discard failed", slog.Any("err", err))
		sk.actionError(ErrCodeLayerUnavailable, "the channel layer is unavailable; try again")
		return
	}
	sk.srv.m.actionOK.Inc()
}

// fieldText renders a message field the way a Python f-string renders a
// str or int; other JSON types are refused.
func fieldText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if len(x) > maxFieldLen {
			return x[:maxFieldLen+1], true // still too long: rejected as a group
		}
		return x, true
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			return "", false
		}
		return s, true
	}
	return "", false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
