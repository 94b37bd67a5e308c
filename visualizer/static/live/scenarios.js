// scenarios.js: the guided scenarios of the live simulator, as data. Each
// is a seed, options and steps; app.js plays them through the same inputs
// a click makes (live.js says when a step fires: at a time, after a delay,
// or when a condition on the cluster holds, looked at every GRID_MS of
// virtual time so that a scenario plays the same everywhere). A caption
// (text, or a function of the state) says why what happens happens;
// pause: true stops the clock until the viewer reads on. expect says
// whether the scenario reached what it shows; TestBrowser checks each.
//
// The live preset: 5 members, a tick of 10 ms, election timeouts drawn
// from 300-600 ms, heartbeats every 50 ms, 10-15 ms links.

import { lastIndexOf, leaderOf, termAt } from '../trace.js';

const S = (id) => `S${id}`;
const up = (st) => Object.values(st.members).filter((m) => m.up && !m.absent && !m.gone);
// A leader that every running member follows, in its term.
const settled = (st) => {
  const l = leaderOf(st);
  return l && up(st).every((m) => m.term === l.term && (m.id === l.id || m.lead === l.id)) ? l : null;
};
// The last response of the user's client operations (the answer to the
// newest operation), or null.
const lastOp = (tl) => (tl.ops.length ? tl.ops[tl.ops.length - 1] : null);
const answered = (tl) => {
  const op = lastOp(tl);
  return op && op.t1 !== null ? op : null;
};
// other: the first running member that is not id (nor any of not).
const other = (st, ...not) => up(st).map((m) => m.id).find((id) => !not.includes(id));

const TRY = 'Now try it yourself: the clock runs on. Click a member, a link or a message; send requests from the client panel; scrub back and fork.';

export const SCENARIOS = [
  {
    id: 'election',
    title: 'Leader election',
    seed: 1,
    speed: 100,
    intro: 'Five members start as followers in term 0, with no leader.',
    steps: [
      {
        at: 0, pause: true,
        caption: 'Every member starts as a follower in term 0. The arc around each is its election timer, drawn at random between 300 and 600 ms: whoever runs out first starts an election. The randomness is what makes a split vote rare.',
      },
      {
        when: (st) => up(st).some((m) => m.role === 'precandidate' || m.role === 'candidate'), pause: true,
        caption: (st) => {
          const c = up(st).find((m) => m.role === 'precandidate' || m.role === 'candidate');
          return `${S(c.id)}'s timer ran out first. It becomes a ${c.role === 'precandidate' ? 'pre-candidate: with Pre-Vote it first asks (lilac messages) whether the others would vote for it, without raising its term, so that a member cut off cannot disrupt the cluster' : 'candidate: it votes for itself, raises its term and asks the others for their vote (purple messages)'}.`;
        },
      },
      {
        when: (st) => !!leaderOf(st), pause: true,
        caption: (st) => `${S(leaderOf(st).id)} won the votes of a majority (3 of 5, its own included: the green dots it had as a candidate) and leads term ${leaderOf(st).term}. A member grants one vote per term, to a candidate whose log is at least as up to date as its own (§5.4.1), so there is at most one leader per term.`,
      },
      {
        delay: 400, pause: true,
        caption: 'The leader sends heartbeats (grey) every 50 ms. Each one resets a follower\'s timer, so as long as the leader is up and reachable no one else starts an election.',
      },
      { delay: 5, caption: TRY },
    ],
    expect: (st) => !!settled(st) || 'no leader that every member follows',
  },
  {
    id: 'replication',
    title: 'Log replication',
    seed: 2,
    speed: 100,
    intro: 'A leader replicates a client\'s write to the followers.',
    steps: [
      { when: (st) => !!settled(st), delay: 0, caption: 'A leader is elected. Watch its log row in the Logs panel.' },
      {
        delay: 200, pause: true,
        input: (st) => ({ kind: 'client', op: 'put', id: leaderOf(st).id, key: '/x', value: 'hello' }),
        caption: (st) => `A client sends PUT /x=hello to the leader ${S(leaderOf(st).id)}. The leader appends it to its own log first: pale and dashed, because it is not committed yet.`,
      },
      {
        delay: 5,
        caption: 'The leader sends the entry to each follower in an AppendEntries message (blue). A follower appends it if its log matches the leader\'s just before it (the log matching property, §5.3) and answers (hollow blue).',
      },
      {
        when: (st) => {
          const l = leaderOf(st);
          return l && l.commit >= lastIndexOf(l);
        },
        pause: true,
        caption: 'A majority now stores the entry, so the leader commits it (solid) and applies it: the client gets its answer (the green bar in the client lanes). The followers learn the new commit index from the next message and apply it too.',
      },
      {
        when: (st, tl) => {
          const l = leaderOf(st);
          return l && answered(tl) && up(st).every((m) => m.commit >= l.commit);
        },
        caption: 'Every member has committed the write: the key space (full view) shows /x=hello on each. ' + TRY,
      },
    ],
    expect: (st, tl) => {
      const l = leaderOf(st);
      const op = answered(tl);
      if (!l || !op || op.result !== 'ok') return 'the write was not answered ok';
      return up(st).every((m) => m.commit >= op.index) || 'not every member committed the write';
    },
  },
  {
    id: 'leader-crash',
    title: 'A leader crash',
    seed: 3,
    speed: 100,
    intro: 'The leader crashes; the others elect a new one; the old one comes back as a follower.',
    steps: [
      {
        when: (st) => !!settled(st), delay: 0, pause: true,
        input: (st, tl, ctx) => {
          ctx.old = leaderOf(st).id;
          ctx.oldTerm = leaderOf(st).term;
          return { kind: 'crash', id: ctx.old };
        },
        caption: (st, tl, ctx) => `${S(ctx.old)} led term ${ctx.oldTerm}. It crashes now: no more heartbeats.`,
      },
      {
        when: (st, tl, ctx) => up(st).some((m) => m.role === 'precandidate' || m.role === 'candidate') && !!ctx.old,
        caption: 'The followers\' timers run out one after another; the first to run out campaigns. The four that are up still make a majority of five.',
      },
      {
        when: (st, tl, ctx) => leaderOf(st) && leaderOf(st).id !== ctx.old, pause: true,
        caption: (st, tl, ctx) => `${S(leaderOf(st).id)} leads term ${leaderOf(st).term}, higher than ${S(ctx.old)}'s ${ctx.oldTerm}. Everything committed before the crash is in its log: a candidate missing a committed entry cannot win a majority (leader completeness).`,
      },
      {
        delay: 300,
        input: (st, tl, ctx) => ({ kind: 'restart', id: ctx.old }),
        caption: (st, tl, ctx) => `${S(ctx.old)} restarts from its disk: its term, its vote and its log survived the crash.`,
      },
      {
        when: (st, tl, ctx) => {
          const m = st.members[ctx.old];
          return m.up && m.role === 'follower' && leaderOf(st) && m.term === leaderOf(st).term && m.lead === leaderOf(st).id;
        },
        pause: true,
        caption: (st, tl, ctx) => `The first message from the new leader carries a higher term: ${S(ctx.old)} adopts it and follows. Any entry it had that was never committed is replaced by the leader's.`,
      },
      { delay: 5, caption: TRY },
    ],
    expect: (st, tl, ctx) => {
      const l = settled(st);
      return (l && l.id !== ctx.old && st.members[ctx.old].up) || 'no new leader followed by the restarted one';
    },
  },
  {
    id: 'split-vote',
    title: 'A split vote',
    seed: 4,
    speed: 100,
    intro: 'Two members campaign at the same moment and split the votes.',
    options: { disablePreVote: true },
    steps: [
      {
        when: (st) => !!settled(st), delay: 0, pause: true,
        input: (st, tl, ctx) => {
          ctx.old = leaderOf(st).id;
          ctx.term = leaderOf(st).term;
          return { kind: 'crash', id: ctx.old };
        },
        caption: (st, tl, ctx) => `Pre-Vote is off in this scenario, to show plain Raft. The leader ${S(ctx.old)} crashes.`,
      },
      {
        delay: 60, pause: true,
        input: (st, tl, ctx) => {
          ctx.a = other(st, ctx.old);
          ctx.b = other(st, ctx.old, ctx.a);
          return [{ kind: 'timeout', id: ctx.a }, { kind: 'timeout', id: ctx.b }];
        },
        caption: (st, tl, ctx) => `${S(ctx.a)} and ${S(ctx.b)} time out at the same moment. Each votes for itself and asks the other three. Each of the others votes for whichever request reaches it first.`,
      },
      {
        when: (st, tl, ctx) => ctx.a && [ctx.a, ctx.b].every((id) => st.members[id].role !== 'candidate') || !!leaderOf(st),
        pause: true,
        caption: (st, tl, ctx) => {
          const l = leaderOf(st);
          return l && l.term === ctx.term + 1
            ? `This time ${S(l.id)} got 3 votes before the other: it leads term ${l.term}. Split votes do not always happen; when they do, nobody wins the term.`
            : 'Neither candidate got 3 of the 4 votes of the members up: the term ends with no leader. Each draws a new random timeout, and the first to run out tries again in a higher term — randomized timeouts make a second split unlikely.';
        },
      },
      {
        when: (st) => !!settled(st), pause: true,
        caption: (st, tl, ctx) => `${S(leaderOf(st).id)} leads term ${leaderOf(st).term} (the crashed leader had term ${ctx.term}).`,
      },
      { delay: 5, caption: TRY },
    ],
    expect: (st, tl, ctx) => {
      const l = settled(st);
      return (l && l.term > ctx.term) || 'no leader after the split';
    },
  },
  {
    id: 'figure8',
    title: 'The Figure 8 problem (§5.4.2)',
    seed: 5,
    speed: 100,
    intro: 'Why a leader never commits an entry of an earlier term by counting replicas.',
    steps: [
      {
        when: (st) => !!settled(st), delay: 0, pause: true,
        input: (st, tl, ctx) => {
          const l = leaderOf(st);
          const ids = up(st).map((m) => m.id).filter((x) => x !== l.id);
          Object.assign(ctx, { a: l.id, b: ids[0], rest: ids.slice(1), t1: l.term });
          // Cut the leader off from all but b.
          return ctx.rest.map((x) => ({ kind: 'cut', from: ctx.a, to: x, both: true }));
        },
        caption: (st, tl, ctx) => `${S(ctx.a)} leads term ${ctx.t1}. Its links to ${ctx.rest.map(S).join(', ')} are cut: it can reach ${S(ctx.b)} only.`,
      },
      {
        delay: 20,
        input: (st, tl, ctx) => ({ kind: 'client', op: 'put', id: ctx.a, key: '/f8', value: 'old-term' }),
        caption: (st, tl, ctx) => `A client writes /f8 to ${S(ctx.a)}. The entry reaches ${S(ctx.b)} only: 2 of 5, not committed.`,
      },
      {
        delay: 150, pause: true,
        input: (st, tl, ctx) => {
          ctx.k = lastIndexOf(st.members[ctx.a]);
          return [{ kind: 'crash', id: ctx.a }, { kind: 'crash', id: ctx.b }, { kind: 'healAll' }];
        },
        caption: (st, tl, ctx) => `${S(ctx.a)} and ${S(ctx.b)} crash with the entry at index ${ctx.k}; the links heal. ${ctx.rest.map(S).join(', ')} lack it, but they are 3 of 5: they can elect a leader among themselves.`,
      },
      {
        when: (st, tl, ctx) => leaderOf(st) && ![ctx.a, ctx.b].includes(leaderOf(st).id),
        input: (st, tl, ctx) => {
          ctx.c = leaderOf(st).id;
          ctx.t2 = leaderOf(st).term;
          return ctx.rest.filter((x) => x !== ctx.c).map((x) => ({ kind: 'cut', from: ctx.c, to: x, both: true }));
        },
        caption: (st, tl, ctx) => `${S(ctx.c)} leads term ${ctx.t2}. A new leader first appends an entry of its own term: at index ${ctx.k}, where ${S(ctx.a)} and ${S(ctx.b)} hold the entry of term ${ctx.t1}. Cut off at once, ${S(ctx.c)} reaches no one with it.`,
      },
      {
        delay: 100, pause: true,
        input: (st, tl, ctx) => [{ kind: 'crash', id: ctx.c }, { kind: 'healAll' }, { kind: 'restart', id: ctx.a }, { kind: 'restart', id: ctx.b }],
        caption: (st, tl, ctx) => `${S(ctx.c)} crashes; ${S(ctx.a)} and ${S(ctx.b)} come back. Only they can win now: their logs end at index ${ctx.k}, longer than the others'.`,
      },
      {
        when: (st, tl, ctx) => leaderOf(st) && [ctx.a, ctx.b].includes(leaderOf(st).id),
        pause: true,
        caption: (st, tl, ctx) => `${S(leaderOf(st).id)} leads term ${leaderOf(st).term} and sends the entry of term ${ctx.t1} to the others: soon it sits on a majority. Counting replicas would call it committed — but it is not safe: ${S(ctx.c)}, whose entry at index ${ctx.k} has the later term ${ctx.t2}, could still be elected by three members whose logs end at index ${ctx.k} in term ${ctx.t1}, and overwrite it. So Raft commits by counting only entries of the leader's own term: the new leader's empty entry of term ${leaderOf(st).term} after it, and committing that commits the old one with it (§5.4.2).`,
      },
      {
        when: (st, tl, ctx) => {
          const l = leaderOf(st);
          return l && [ctx.a, ctx.b].includes(l.id) && l.commit >= lastIndexOf(l) && l.commit > ctx.k;
        },
        pause: true,
        input: (st, tl, ctx) => ({ kind: 'restart', id: ctx.c }),
        caption: (st, tl, ctx) => `The entry of term ${leaderOf(st).term} is on a majority: both it and the old entry are committed, and ${S(ctx.c)} can never be elected again with its entry of term ${ctx.t2}. ${S(ctx.c)} restarts: watch its entry at index ${ctx.k} replaced by the leader's.`,
      },
      {
        when: (st, tl, ctx) => termAt(st.members[ctx.c], ctx.k) === ctx.t1,
        caption: TRY,
      },
    ],
    expect: (st, tl, ctx) => {
      const l = leaderOf(st);
      if (!l || ![ctx.a, ctx.b].includes(l.id)) return 'the leader is not one that holds the old entry';
      return termAt(st.members[ctx.c], ctx.k) === ctx.t1 || `${S(ctx.c)}'s entry at ${ctx.k} was not replaced`;
    },
  },
  {
    id: 'stale-leader',
    title: 'A stale leader in a minority',
    seed: 6,
    speed: 100,
    intro: 'A leader cut off from the majority; why CheckQuorum and Pre-Vote matter.',
    steps: [
      {
        when: (st) => !!settled(st), delay: 0,
        input: (st) => ({ kind: 'client', op: 'put', id: leaderOf(st).id, key: '/x', value: '1' }),
        caption: (st) => `${S(leaderOf(st).id)} leads. A client writes /x=1.`,
      },
      {
        when: (st, tl) => !!answered(tl), delay: 0, pause: true,
        input: (st, tl, ctx) => {
          ctx.old = leaderOf(st).id;
          ctx.term = leaderOf(st).term;
          return { kind: 'isolate', id: ctx.old };
        },
        caption: (st, tl, ctx) => `/x=1 is committed. Now ${S(ctx.old)}, the leader, is cut off from everyone: it is in a minority of one. It does not know it yet and still believes it leads.`,
      },
      {
        when: (st, tl, ctx) => leaderOf(st) && leaderOf(st).id !== ctx.old && leaderOf(st).term > ctx.term, pause: true,
        input: (st) => ({ kind: 'client', op: 'put', id: leaderOf(st).id, key: '/x', value: '2' }),
        caption: (st, tl, ctx) => `The majority elected ${S(leaderOf(st).id)} in term ${leaderOf(st).term}, and a client writes /x=2 there. ` +
          (st.members[ctx.old].role === 'leader'
            ? `${S(ctx.old)} still believes it leads term ${ctx.term}: two leaders, in different terms; only the newer can commit.`
            : `${S(ctx.old)} has already stepped down (CheckQuorum, below), but its copy of the key space is stuck at /x=1.`),
      },
      {
        delay: 50, pause: true,
        input: (st, tl, ctx) => ({ kind: 'client', op: 'get', id: ctx.old, key: '/x', quorum: false }),
        caption: (st, tl, ctx) => `A local read at ${S(ctx.old)} answers from its own copy at once: /x=1, stale. A linearizable read would have to hear from a majority first.`,
      },
      {
        delay: 100, pause: true,
        caption: (st, tl, ctx) => `With CheckQuorum (on here), a leader that has not heard from a majority within an election timeout steps down: ${S(ctx.old)} ${st.members[ctx.old].role === 'leader' ? 'will soon' : 'already did'}. Without it, a stale leader would accept writes it can never commit.`,
      },
      {
        delay: 600,
        input: (st, tl, ctx) => ({ kind: 'rejoin', id: ctx.old }),
        caption: (st, tl, ctx) => `${S(ctx.old)} rejoins, still in term ${st.members[ctx.old].term}. Cut off, it timed out again and again, but with Pre-Vote a member raises its term only once a majority would vote for it, and no one answered: so it does not force the healthy leader of term ${leaderOf(st) ? leaderOf(st).term : ''} to step down with a higher term. It just follows.`,
      },
      {
        when: (st, tl, ctx) => {
          const l = settled(st);
          return l && st.members[ctx.old].lead === l.id;
        },
        caption: TRY,
      },
    ],
    expect: (st, tl, ctx) => {
      const l = settled(st);
      const read = tl.ops.find((op) => op.op === 'get' && op.result === 'ok');
      if (!read || read.answer !== '1') return `the local read answered ${read ? read.answer : 'nothing'}, not the stale 1`;
      return (l && l.id !== ctx.old) || 'the old leader did not rejoin as a follower';
    },
  },
  {
    id: 'membership',
    title: 'A membership change',
    seed: 7,
    speed: 200,
    intro: 'A member is added, catches up, and becomes a voter; another is removed.',
    steps: [
      {
        when: (st) => !!settled(st), delay: 0, pause: true,
        input: { kind: 'add' },
        caption: 'A sixth member starts with an empty disk. The leader adds it first as a learner: it gets the log but does not vote, so a slow newcomer cannot stall commits.',
      },
      {
        when: (st) => {
          const l = leaderOf(st);
          return l && l.voters && l.voters.length === 6;
        },
        pause: true,
        caption: 'It caught up: the leader promoted it to voter with a configuration change through the log. One change at a time, so the old and new majorities always overlap.',
      },
      {
        delay: 200,
        input: (st, tl, ctx) => {
          ctx.gone = other(st, leaderOf(st).id);
          return { kind: 'remove', id: ctx.gone };
        },
        caption: (st, tl, ctx) => `Now ${S(ctx.gone)} is removed: once the change commits it is stopped for good and no longer drawn.`,
      },
      {
        when: (st, tl, ctx) => st.members[ctx.gone] && st.members[ctx.gone].gone,
        caption: TRY,
      },
    ],
    expect: (st, tl, ctx) => {
      const l = settled(st);
      return (l && l.voters.length === 5 && st.members[ctx.gone].gone) || 'the cluster did not end with 5 voters';
    },
  },
  {
    id: 'read-index',
    title: 'ReadIndex vs a stale local read',
    seed: 8,
    speed: 100,
    intro: 'A follower cut off from the leader serves a stale local read; a linearizable read waits.',
    steps: [
      {
        when: (st) => !!settled(st), delay: 0,
        input: (st) => ({ kind: 'client', op: 'put', id: leaderOf(st).id, key: '/y', value: 'old' }),
        caption: 'A client writes /y=old.',
      },
      {
        when: (st, tl) => {
          const op = answered(tl);
          const l = leaderOf(st);
          return op && l && up(st).every((m) => m.commit >= op.index);
        },
        pause: true,
        input: (st, tl, ctx) => {
          ctx.f = other(st, leaderOf(st).id);
          return { kind: 'isolate', id: ctx.f };
        },
        caption: (st, tl, ctx) => `Every member has /y=old. Now the follower ${S(ctx.f)} is cut off.`,
      },
      {
        delay: 20,
        input: (st) => ({ kind: 'client', op: 'put', id: leaderOf(st).id, key: '/y', value: 'new' }),
        caption: 'A client writes /y=new through the leader: the four others commit it.',
      },
      {
        when: (st, tl) => {
          const op = answered(tl);
          return op && op.value === 'new';
        },
        pause: true,
        input: (st, tl, ctx) => ({ kind: 'client', op: 'get', id: ctx.f, key: '/y', quorum: false }),
        caption: (st, tl, ctx) => `A local read at ${S(ctx.f)}: it answers from its own copy, /y=old — stale, though the write of new has finished. Not linearizable.`,
      },
      {
        when: (st, tl) => answered(tl) && answered(tl).op === 'get',
        pause: true,
        input: (st, tl, ctx) => ({ kind: 'client', op: 'get', id: ctx.f, key: '/y', quorum: true }),
        caption: (st, tl, ctx) => `Now a linearizable read at ${S(ctx.f)}: with ReadIndex the member must learn the leader's commit index, and the leader must confirm with a majority that it still leads. Cut off, ${S(ctx.f)} cannot: the read waits, and fails rather than answer stale.`,
      },
      {
        when: (st, tl) => answered(tl) && answered(tl).op === 'get' && lastOp(tl).n === answered(tl).n && tl.ops.filter((op) => op.op === 'get').length === 2,
        pause: true,
        input: (st, tl, ctx) => ({ kind: 'rejoin', id: ctx.f }),
        caption: (st, tl, ctx) => `The read gave up (${answered(tl).result}). ${S(ctx.f)} rejoins and catches up with the leader's log.`,
      },
      {
        when: (st, tl, ctx) => {
          const l = settled(st);
          return l && st.members[ctx.f].applied >= l.commit;
        },
        pause: true,
        input: (st, tl, ctx) => ({ kind: 'client', op: 'get', id: ctx.f, key: '/y', quorum: true }),
        caption: (st, tl, ctx) => `A linearizable read at ${S(ctx.f)} again: it asks the leader for the read index, the leader confirms its leadership with a heartbeat round (read-index messages), and ${S(ctx.f)} answers once it has applied up to that index.`,
      },
      {
        when: (st, tl) => tl.ops.filter((op) => op.op === 'get').length === 3 && lastOp(tl).t1 !== null,
        caption: (st, tl) => {
          const op = lastOp(tl);
          return `It answers ${op ? op.answer || op.result : ''}: linearizable. ${TRY}`;
        },
      },
    ],
    expect: (st, tl) => {
      const gets = tl.ops.filter((op) => op.op === 'get');
      if (gets.length < 3) return `${gets.length} reads, want 3`;
      if (gets[0].answer !== 'old') return `the local read answered ${gets[0].answer || gets[0].result}, want old`;
      if (gets[1].result === 'ok') return `the linearizable read cut off answered ${gets[1].answer}`;
      return (gets[2].result === 'ok' && gets[2].answer === 'new') || `the linearizable read answered ${gets[2].answer || gets[2].result}, want new`;
    },
  },
];
