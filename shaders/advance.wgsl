// Ends a step: state[0] ← state[0] + 1, so the next step's passes read the next batch of
// `order` and write the next slots of the loss buffer. Keeping the step counter on the
// device lets one submission hold many steps with no host writes between them.
//
// Dispatch: (1, 1, 1).

@group(0) @binding(0) var<storage, read_write> state: array<u32>;

@compute @workgroup_size(1)
fn main() {
    state[0] = state[0] + 1u;
}
