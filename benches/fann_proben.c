/*
 * fann_proben.c: trains one fully connected network with FANN (libfann) on a PROBEN1 /
 * DELVE problem in FANN's text format and prints one line of results, so that bprop's
 * PROBEN1 numbers (BENCHMARKS.md) can be set beside FANN's on the same machine.
 *
 *   gcc -O2 benches/fann_proben.c -o fann_proben -lfann -lm                 (float FANN)
 *   gcc -O2 -DUSE_DOUBLE benches/fann_proben.c -o fann_proben -ldoublefann -lm
 *
 *   ./fann_proben TRAIN TEST HIDDEN EPOCHS SEED [HIDDEN_ACT [OUTPUT_ACT [EVAL_EVERY]]]
 *
 * HIDDEN is a comma-separated list of hidden layer sizes ("8", "16,8"). The network is
 * made by fann_create_standard (bias neurons, all layers fully connected) and trained
 * full batch with iRPROP- (FANN_TRAIN_RPROP, FANN's default algorithm and its default
 * RPROP parameters and error function), one fann_train_epoch per epoch, samples in file
 * order. Activations default to FANN_SIGMOID for hidden and output layers (what FANN's
 * benchmarks/quality.cc uses for "fann_rprop"); any FANN_ACTIVATIONFUNC_NAMES name, with
 * or without the FANN_ prefix, may be given instead (e.g. SIGMOID_STEPWISE, the
 * fann_create_standard default).
 *
 * fann_create_standard seeds rand() from the clock itself, so after creating the network
 * this program calls srand(SEED) and fann_randomize_weights(ann, -0.1, 0.1), the range
 * fann_create_standard draws from: runs are reproducible for a given SEED and libc.
 *
 * Output (one line):
 *   FANN name=.. hidden=.. epochs=.. seed=.. act=HID/OUT train_mse=.. test_mse=..
 *        test_error=..% best_test_mse=.. best_epoch=..
 * train_mse and test_mse are fann_test_data's MSE after the last epoch: the mean over
 * samples and outputs of (target - output)^2; FANN halves the difference first when the
 * output activation is symmetric (e.g. SIGMOID_SYMMETRIC), not for SIGMOID. test_error is
 * the share of test samples whose largest output is not at the largest target. With
 * EVAL_EVERY = k > 0 (default 0: off) the test MSE is also measured every k epochs and the
 * lowest is printed as best_test_mse: that is chosen by looking at the test set (as FANN's
 * benchmark summary does), so it is a reference, not a result. If the environment variable
 * FANN_PROBEN_CURVE names a file, each of those measurements is written to it as a line
 * "EPOCH TEST_MSE" (the file is overwritten).
 */
#ifdef USE_DOUBLE
#include <doublefann.h>
#else
#include <fann.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int activation_by_name(const char *name)
{
    const char *n = strncmp(name, "FANN_", 5) == 0 ? name + 5 : name;
    for (int i = 0; i <= FANN_LINEAR_PIECE_SYMMETRIC; i++) {
        if (strcmp(FANN_ACTIVATIONFUNC_NAMES[i] + 5, n) == 0)
            return i;
    }
    fprintf(stderr, "unknown activation %s\n", name);
    exit(2);
}

static double classification_error(struct fann *ann, struct fann_train_data *d)
{
    unsigned int wrong = 0;
    for (unsigned int s = 0; s < d->num_data; s++) {
        fann_type *out = fann_run(ann, d->input[s]);
        unsigned int ao = 0, at = 0;
        for (unsigned int j = 1; j < d->num_output; j++) {
            if (out[j] > out[ao]) ao = j;
            if (d->output[s][j] > d->output[s][at]) at = j;
        }
        if (ao != at) wrong++;
    }
    return 100.0 * wrong / d->num_data;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 9) {
        fprintf(stderr, "usage: %s TRAIN TEST HIDDEN EPOCHS SEED [HIDDEN_ACT [OUTPUT_ACT "
                        "[EVAL_EVERY]]]\n", argv[0]);
        return 2;
    }
    const char *train_path = argv[1], *test_path = argv[2];
    unsigned int epochs = (unsigned int) strtoul(argv[4], NULL, 10);
    unsigned int seed = (unsigned int) strtoul(argv[5], NULL, 10);
    int hid_act = activation_by_name(argc > 6 ? argv[6] : "SIGMOID");
    int out_act = activation_by_name(argc > 7 ? argv[7] : "SIGMOID");
    unsigned int eval_every = argc > 8 ? (unsigned int) strtoul(argv[8], NULL, 10) : 0;

    struct fann_train_data *train = fann_read_train_from_file(train_path);
    struct fann_train_data *test = fann_read_train_from_file(test_path);
    if (!train || !test) {
        fprintf(stderr, "cannot read %s or %s\n", train_path, test_path);
        return 1;
    }

    unsigned int layers[16], n = 0;
    layers[n++] = train->num_input;
    char hidden[256];
    snprintf(hidden, sizeof hidden, "%s", argv[3]);
    for (char *tok = strtok(hidden, ","); tok; tok = strtok(NULL, ",")) {
        if (n >= 15) { fprintf(stderr, "too many layers\n"); return 2; }
        layers[n++] = (unsigned int) strtoul(tok, NULL, 10);
    }
    layers[n++] = train->num_output;

    struct fann *ann = fann_create_standard_array(n, layers);
    if (!ann) return 1;
    srand(seed);
    fann_randomize_weights(ann, -0.1f, 0.1f);
    fann_set_training_algorithm(ann, FANN_TRAIN_RPROP);
    fann_set_activation_function_hidden(ann, (enum fann_activationfunc_enum) hid_act);
    fann_set_activation_function_output(ann, (enum fann_activationfunc_enum) out_act);

    double best = -1.0;
    unsigned int best_epoch = 0;
    const char *curve_path = getenv("FANN_PROBEN_CURVE");
    FILE *curve = eval_every && curve_path && *curve_path ? fopen(curve_path, "w") : NULL;
    if (eval_every && curve_path && *curve_path && !curve) {
        fprintf(stderr, "cannot write %s\n", curve_path);
        return 1;
    }
    for (unsigned int e = 1; e <= epochs; e++) {
        fann_train_epoch(ann, train);
        if (eval_every && (e % eval_every == 0 || e == epochs)) {
            double m = fann_test_data(ann, test);
            if (best < 0 || m < best) { best = m; best_epoch = e; }
            if (curve) fprintf(curve, "%u %.8f\n", e, m);
        }
    }
    if (curve) fclose(curve);
    double train_mse = fann_test_data(ann, train);
    double test_mse = fann_test_data(ann, test);
    double err = classification_error(ann, test);

    const char *base = strrchr(train_path, '/');
    base = base ? base + 1 : train_path;
    char name[128];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot) *dot = '\0';

    printf("FANN name=%s hidden=%s epochs=%u seed=%u act=%s/%s train_mse=%.6f "
           "test_mse=%.6f test_error=%.2f%%", name, argv[3], epochs, seed,
           FANN_ACTIVATIONFUNC_NAMES[hid_act] + 5, FANN_ACTIVATIONFUNC_NAMES[out_act] + 5,
           train_mse, test_mse, err);
    if (eval_every)
        printf(" best_test_mse=%.6f best_epoch=%u", best, best_epoch);
    printf("\n");

    fann_destroy(ann);
    fann_destroy_train(train);
    fann_destroy_train(test);
    return 0;
}
