// sdtrain's option parsing and learning-rate schedule against the paper's numbers.
#include "../train/options.h"
#include "harness.h"

static int parse(TrainOptions *opt, int argc, char **argv) {
    options_defaults(opt);
    return options_parse(opt, argc, argv);
}

int main(void) {
    TestContext t = {"test_train_options", 0, 0, 0};
    TrainOptions opt;
    options_defaults(&opt);
    // Paper sec. 4: 500 epochs, lr 0.1 divided by 10 after epochs 250 and 375.
    CHECK(&t, opt.epochs == 500 && opt.batch_size == 128, "paper defaults: 500 epochs, batch 128");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 0), 0.1, 0, 1e-12, "lr in epoch 1");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 249), 0.1, 0, 1e-12, "lr in epoch 250");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 250), 0.01, 0, 1e-12, "lr in epoch 251");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 374), 0.01, 0, 1e-12, "lr in epoch 375");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 375), 0.001, 0, 1e-12, "lr in epoch 376");
    CHECK(&t, opt.nesterov == 1 && opt.momentum == 0.9 && opt.weight_decay == 1e-4,
          "Nesterov 0.9, weight decay 1e-4");
    CHECK(&t, opt.p_last == 0.5 && opt.val_size == 5000, "p_L 0.5, 5000 validation images");

    // The 1202-layer schedule: 0.01 for 10 epochs, then 0.1, /10 at 150 and 225.
    char *warm[] = {"sdtrain", "--epochs", "300", "--lr-steps", "150,225", "--warmup-epochs",
                    "10", "--warmup-lr", "0.01"};
    CHECK(&t, parse(&opt, 9, warm) == 0, "warm-up options parse");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 9), 0.01, 0, 1e-12, "warm-up lr in epoch 10");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 10), 0.1, 0, 1e-12, "lr restored in epoch 11");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 150), 0.01, 0, 1e-12, "lr in epoch 151");
    CHECK_CLOSE(&t, options_lr_at_epoch(&opt, 225), 0.001, 0, 1e-12, "lr in epoch 226");

    char *bad_steps[] = {"sdtrain", "--lr-steps", "375,250"};
    CHECK(&t, parse(&opt, 3, bad_steps) == 2, "decreasing --lr-steps refused");
    char *bad_rule[] = {"sdtrain", "--survival", "random"};
    CHECK(&t, parse(&opt, 3, bad_rule) == 2, "unknown survival rule refused");
    char *bad_p[] = {"sdtrain", "--p-last", "0"};
    CHECK(&t, parse(&opt, 3, bad_p) == 2, "p_L = 0 refused");
    char *extra[] = {"sdtrain", "stray"};
    CHECK(&t, parse(&opt, 2, extra) == 2, "stray argument refused");
    char *warm_all[] = {"sdtrain", "--epochs", "5", "--warmup-epochs", "5"};
    CHECK(&t, parse(&opt, 5, warm_all) == 2, "warm-up covering every epoch refused");
    char *ok[] = {"sdtrain", "--survival", "uniform", "--p-last", "0.8", "--no-nesterov",
                  "--seed", "42", "--no-augment"};
    CHECK(&t, parse(&opt, 9, ok) == 0 && opt.nesterov == 0 && opt.seed == 42 &&
                  opt.augment == 0 && opt.p_last == 0.8,
          "options applied");
    return test_finish(&t);
}
