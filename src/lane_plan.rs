//! The lanes' plan: how many calls of each group (a model, a GPU program's engine) each lane
//! is expected to run, sized by work — calls × their mean time, a model's load where a lane
//! must load it — so that every lane's expected end is even.
//!
//! Why: a free lane that takes "the group with the most work left" decides by counts, and
//! counts mislead when one group's calls are ten times longer than another's. A build whose
//! work is mostly a long program's calls then runs them in rounds (three lanes, eight calls:
//! 3, 3, 2), and the lanes that made the models' short calls first start their share of the
//! long ones late and end late. Knowing every group's mean call time before the first call
//! ends (the history of an earlier build: `history::lane_seconds`) lets the build place the
//! long calls first and fill the lanes' ends with the short ones: longest processing time
//! first (LPT), each call to the lane that would end it soonest.
//!
//! A plan is advice, not a rule: the board (`lanes.rs`) prefers a lane's planned groups and
//! runs a planned program call beside the lane's model; a lane whose plan is spent takes any
//! work it may, as without a plan; every guarantee (a model loaded at most once per lane,
//! memory packing, one call at a time per lane) is the board's and holds either way.

use std::collections::BTreeMap;

/// One group's work still to plan.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupWork {
    pub group: String,
    /// Its calls to come.
    pub calls: usize,
    /// The mean seconds of one call.
    pub call: f64,
    /// A model's load in seconds; None for a program (it loads nothing).
    pub load: Option<f64>,
}

/// Per lane, how many calls of each group it is planned to run.
pub type Plan = Vec<BTreeMap<String, usize>>;

/// LPT over the groups: the longest calls first, each to the lane that would end it
/// soonest (its expected end, plus the model's load where the lane does not hold the model
/// yet; the lowest lane on a tie). A model's calls go to the k lanes where they would start
/// soonest, lanes with no model planned first (a second model on a lane is a switch that
/// waits for the first one's calls), k chosen so that the plan's last end, the groups after
/// it placed whole, plus the k − 1 extra loads is least (an extra load is work too, and a
/// 2-core machine or a card feels it): a model of a few short calls stays on one lane, one
/// of many long calls is split. A lane planned for a model holds it for the rest of the
/// plan: its calls run together, so it loads once.
pub fn plan(work: &[GroupWork], lanes: usize) -> Plan {
    let mut plan: Plan = vec![BTreeMap::new(); lanes];
    if lanes == 0 {
        return plan;
    }
    let mut state = State {
        end: vec![0.0; lanes],
        holds: vec![Vec::new(); lanes],
    };
    let mut order: Vec<&GroupWork> = work.iter().filter(|w| w.calls > 0).collect();
    order.sort_by(|a, b| {
        b.call
            .total_cmp(&a.call)
            .then_with(|| a.group.cmp(&b.group))
    });
    for (i, w) in order.iter().enumerate() {
        let most = if w.load.is_some() { lanes } else { 1 };
        let mut best: Option<(f64, State, Vec<usize>)> = None;
        for k in 1..=most {
            // A program (no load) is spread over every lane at once.
            let k = if w.load.is_some() { k } else { lanes };
            let (after, counts) = state.place(w, k);
            let mut rest = after.clone();
            for later in &order[i + 1..] {
                let whole = if later.load.is_some() { 1 } else { lanes };
                rest = rest.place(later, whole).0;
            }
            let last = rest.end.iter().copied().fold(0.0, f64::max);
            let cost = last + (k - 1) as f64 * w.load.unwrap_or(0.0);
            if best.as_ref().is_none_or(|b| cost < b.0 - 1e-9) {
                best = Some((cost, after, counts));
            }
        }
        let (_, after, counts) = best.expect("at least one lane");
        for (lane, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
            *plan[lane].entry(w.group.clone()).or_default() += n;
        }
        state = after;
    }
    plan
}

/// The lanes while a plan is made: each one's expected end, the models it holds.
#[derive(Clone)]
struct State {
    end: Vec<f64>,
    holds: Vec<Vec<String>>,
}

impl State {
    /// `w`'s calls over k lanes (lanes with no other model first, then by where its first
    /// call would end), each to the one that would end it soonest: the lanes after them,
    /// and how many each took.
    fn place(&self, w: &GroupWork, k: usize) -> (State, Vec<usize>) {
        let load = |l: usize| (w.load.filter(|_| !self.holds[l].contains(&w.group))).unwrap_or(0.0);
        let other_model =
            |l: usize| w.load.is_some() && self.holds[l].iter().any(|m| m != &w.group);
        let mut lanes: Vec<usize> = (0..self.end.len()).collect();
        lanes.sort_by(|&a, &b| {
            (other_model(a).cmp(&other_model(b)))
                .then_with(|| (self.end[a] + load(a)).total_cmp(&(self.end[b] + load(b))))
        });
        let mut after = self.clone();
        let mut counts = vec![0; self.end.len()];
        for _ in 0..w.calls {
            let cost =
                |l: usize| after.end[l] + w.call + if counts[l] == 0 { load(l) } else { 0.0 };
            let lane = (lanes[..k].iter().copied())
                .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
                .expect("at least one lane");
            after.end[lane] = cost(lane);
            counts[lane] += 1;
        }
        for (lane, _) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            if w.load.is_some() && !after.holds[lane].contains(&w.group) {
                after.holds[lane].push(w.group.clone());
            }
        }
        (after, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(group: &str, calls: usize, call: f64, load: Option<f64>) -> GroupWork {
        GroupWork {
            group: group.into(),
            calls,
            call,
            load,
        }
    }

    /// The plan's expected end per lane.
    fn ends(plan: &Plan, work: &[GroupWork]) -> Vec<f64> {
        (plan.iter())
            .map(|row| {
                (row.iter())
                    .filter_map(|(group, &n)| {
                        let w = work.iter().find(|w| &w.group == group)?;
                        Some(n as f64 * w.call + w.load.unwrap_or(0.0))
                    })
                    .sum()
            })
            .collect()
    }

    fn row(entries: &[(&str, usize)]) -> BTreeMap<String, usize> {
        entries.iter().map(|(g, n)| (g.to_string(), *n)).collect()
    }

    #[test]
    fn long_program_calls_are_spread_first_and_the_models_fill_the_ends() {
        // The lanes bench: 8 program calls of 1.6 s, 8 of a model of 0.2 s, 8 of one of
        // 0.05 s, loads of 0.5 s.
        let groups = [
            work("tiny", 8, 0.05, Some(0.5)),
            work("slow", 8, 0.2, Some(0.5)),
            work("talker", 8, 1.6, None),
        ];
        let plan = plan(&groups, 3);
        assert_eq!(
            plan,
            [
                row(&[("talker", 3), ("tiny", 8)]),
                row(&[("talker", 3)]),
                row(&[("talker", 2), ("slow", 8)]),
            ]
        );
        // By counts alone each lane would take a group of 8 calls: 12.8 s on one lane.
        let ends = ends(&plan, &groups);
        assert!(ends.iter().all(|&e| e < 6.0), "{ends:?}");
    }

    #[test]
    fn on_two_lanes_each_model_has_a_lane_of_its_own() {
        let groups = [
            work("tiny", 8, 0.05, Some(0.5)),
            work("slow", 8, 0.2, Some(0.5)),
            work("talker", 8, 1.6, None),
        ];
        // Splitting `slow` would look sooner for it alone (7.7 s against 8.5 s on one lane),
        // but then `tiny` must follow a model on a lane: 8.6 s and an extra load.
        let plan = plan(&groups, 2);
        assert_eq!(
            plan,
            [
                row(&[("slow", 8), ("talker", 4)]),
                row(&[("talker", 4), ("tiny", 8)]),
            ]
        );
    }

    #[test]
    fn a_model_is_split_over_lanes_only_when_its_calls_outweigh_the_loads() {
        // 24 calls of 1 s, loads of 0.5 s: every lane loads it, 8 calls each.
        let heavy = [work("m", 24, 1.0, Some(0.5))];
        let plan = plan(&heavy, 3);
        assert_eq!(plan, vec![row(&[("m", 8)]); 3]);
        // 4 calls of 0.1 s, loads of 2 s: one lane makes them all.
        let light = [work("m", 4, 0.1, Some(2.0))];
        let plan = super::plan(&light, 3);
        assert_eq!(plan, [row(&[("m", 4)]), row(&[]), row(&[])]);
    }
}
