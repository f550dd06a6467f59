// Ends a step: state.step ← state.step + 1, so the next step's passes read the next batch of
// `order` and write the next slots of the loss buffer. Keeping the step counter on the
// device lets one submission hold many steps with no host writes between them.
//
// Dispatch: (1, 1, 1).

@group(0) @binding(0) var<storage, read_write> state: SubmissionState;

@compute @workgroup_size(1)
fn main() {
    state.step = state.step + 1u;
}
