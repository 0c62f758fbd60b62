//! How the plant carries out what the supervisor decides about a joint's drive: its
//! safe state (hold or limp), a fresh controller after a restart or a reset (blended
//! back onto the trajectory, never a jump), the e-stop's hold of every joint and its
//! release, and a followed joint's twin taking over or handing back.

use super::*;

impl Plant {
    /// Puts joint `i` in its safe state (hold or limp; StopAll holds, and the
    /// supervisor latches the e-stop). Returns what it did, for the event log.
    pub fn enter_safe_state(&mut self, i: usize) -> String {
        let pos = self.world.joint_state(i).pos;
        let j = &mut self.joints[i];
        match j.safe_state {
            SafeState::Hold | SafeState::StopAll => {
                j.mode = DriveMode::Hold { hold: pos };
                format!("holding {pos:.4}")
            }
            SafeState::Limp => {
                j.mode = DriveMode::Limp;
                "limp".into()
            }
        }
    }

    /// A fresh service (restart number `n`) now drives joint `i`: it starts afresh
    /// from where the joint is, blended back onto the trajectory; the dead service's
    /// last command is dropped, and a one-shot controller fault ends with the
    /// instance it struck.
    pub fn restarted(&mut self, i: usize, n: u32) {
        let t = self.t;
        let j = &mut self.joints[i];
        j.mode = DriveMode::Controller;
        j.reset_controller = true;
        j.command = 0.0;
        j.command_t = t;
        for f in self.faults.iter_mut() {
            if f.joint == i && f.spec.one_shot() && f.detected_at.is_some() && f.ended_at.is_none()
            {
                f.ended_at = Some(t);
            }
        }
        self.resume(i);
        self.event(i, "restart", format!("service restarted (restart #{n})"));
    }

    /// Joint `i`'s controller starts afresh (its servo is back, or the e-stop is
    /// released), blended back onto the trajectory.
    pub fn resume_control(&mut self, i: usize) {
        let j = &mut self.joints[i];
        j.mode = DriveMode::Controller;
        j.reset_controller = true;
        self.resume(i);
    }

    /// The e-stop: every joint holds where it is (hardware joints keep their last
    /// goal).
    pub fn hold_all(&mut self) {
        for i in 0..self.joints.len() {
            let pos = self.world.joint_state(i).pos;
            let j = &mut self.joints[i];
            if j.hw.is_none() || j.mode == DriveMode::Controller {
                j.mode = DriveMode::Hold { hold: pos };
            }
        }
    }

    /// The e-stop is released for joint `i`: it follows its servo again, its served
    /// servo's firmware drives it again, or its controller starts afresh.
    pub fn release(&mut self, i: usize) {
        let j = &mut self.joints[i];
        if j.served.is_some() {
            j.mode = DriveMode::Served;
            return;
        }
        match &j.hw {
            Some(h) if !h.handover && j.mode != DriveMode::Controller => j.mode = DriveMode::Follow,
            _ => self.resume_control(i),
        }
    }

    /// A followed joint's link is lost and its policy is the simulated twin: the twin
    /// goes on under its controller.
    pub fn drive_twin(&mut self, i: usize) {
        let j = &mut self.joints[i];
        j.mode = DriveMode::Controller;
        j.reset_controller = true;
    }

    /// A followed joint's link is back: its servo is walked to the twin before the
    /// joint follows it again (see `check_handover`).
    pub fn hand_back(&mut self, i: usize) {
        if let Some(h) = self.joints[i].hw.as_mut() {
            h.handover = true;
            h.goal = Some(h.pos);
        }
    }

    /// Joint `i` goes limp (a followed joint whose link is lost, policy Limp).
    pub fn go_limp(&mut self, i: usize) {
        self.joints[i].mode = DriveMode::Limp;
    }

    /// Joint `i`'s twin follows its servo again.
    pub fn follow_servo(&mut self, i: usize) {
        self.joints[i].mode = DriveMode::Follow;
    }
}
