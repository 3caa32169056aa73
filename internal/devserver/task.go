package devserver

import (
	"context"
	"fmt"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// GroupSender is what a simulated task needs from a channel layer;
// *channelsproto.Layer satisfies it.
type GroupSender interface {
	// GroupSend sends msg to every channel of group.
	GroupSend(ctx context.Context, group string, msg channelsproto.Map) error
}

// TaskPlan shapes a simulated task.
type TaskPlan struct {
	// Steps is the number of task.update events; step i of n reports
	// progress i*100/(n+1), and task.complete stands for 100. Zero means 9.
	Steps int
	// StepInterval is the time between events. Zero means 400 ms.
	StepInterval time.Duration
	// StartDelay is the time before the first event, like a Celery task
	// waiting in the queue; it lets the browser subscribe to the task id
	// it just received. Zero means 1 s.
	StartDelay time.Duration
}

func (p TaskPlan) withDefaults() TaskPlan {
	if p.Steps <= 0 {
		p.Steps = 9
	}
	if p.StepInterval <= 0 {
		p.StepInterval = 400 * time.Millisecond
	}
	if p.StartDelay <= 0 {
		p.StartDelay = time.Second
	}
	return p
}

// TaskGroup returns the group a task reports to, as the seed's Celery task
// names it: "task_" + id.
func TaskGroup(id string) string { return "task_" + id }

// UpdateEvent returns the seed's task.update event for step of steps, with
// the fields in the order the seed's Celery task writes its dict and
// progress step*100/(steps+1) (the completion is the last 100%).
func UpdateEvent(id string, step, steps int) channelsproto.Map {
	return channelsproto.Map{
		{Key: "type", Value: "task.update"},
		{Key: "task_id", Value: id},
		{Key: "status", Value: "processing"},
		{Key: "message", Value: fmt.Sprintf("Processing step %d of %d...", step, steps)},
		{Key: "progress", Value: int64(step * 100 / (steps + 1))},
	}
}

// CompleteEvent returns the seed's task.complete event.
func CompleteEvent(id string, steps int) channelsproto.Map {
	return channelsproto.Map{
		{Key: "type", Value: "task.complete"},
		{Key: "task_id", Value: id},
		{Key: "status", Value: "completed"},
		{Key: "message", Value: "All done!"},
		{Key: "result", Value: channelsproto.Map{{Key: "steps", Value: int64(steps)}}},
	}
}

// RunTask runs one simulated task the way the seed's Celery task drives
// channels_redis: after plan.StartDelay, plan.Steps group_sends of
// UpdateEvent to TaskGroup(id), one every plan.StepInterval, then one of
// CompleteEvent. It returns when the task completed, with the first
// group_send error, or with ctx's error when ctx is cancelled.
func RunTask(ctx context.Context, layer GroupSender, id string, plan TaskPlan) error {
	plan = plan.withDefaults()
	group := TaskGroup(id)
	t := time.NewTimer(plan.StartDelay)
	defer t.Stop()
	for step := 1; step <= plan.Steps+1; step++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		msg := CompleteEvent(id, plan.Steps)
		if step <= plan.Steps {
			msg = UpdateEvent(id, step, plan.Steps)
		}
		if err := layer.GroupSend(ctx, group, msg); err != nil {
			return fmt.Errorf("devserver: task %s: group_send: %w", id, err)
		}
		t.Reset(plan.StepInterval)
	}
	return nil
}
