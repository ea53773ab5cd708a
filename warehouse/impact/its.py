"""Interrupted time series: the group's weekly series, level and slope change, HAC errors.

Used when no comparison teams exist (an org-wide rollout). The weeks before adoption fix a
level and a trend; the weeks after the ramp may differ in level and in slope:

    link(E[y_w]) = a + b (w - w0) + c post_w + d (w - w_mid) post_w

w0 is the first week after the ramp and w_mid the middle of the weeks after, so c is the
average change over the weeks after (the reported effect), c + d (w0 - w_mid) the change in
level at w0 and d the change in slope. Rates are a Poisson GLM on the weekly counts with the
denominator as exposure; durations a weighted least squares on the weekly mean log (weights:
events). Newey-West (HAC, Bartlett kernel) errors allow week-to-week correlation, with the
whole series as the bandwidth (b = 1, Kiefer, Vogelsang and Bunzel 2000): an org-wide factor
that lingers is otherwise read as a level shift. Because so long a bandwidth makes the HAC
variance itself noisy, the critical value is the fixed-b one of Kiefer and Vogelsang (2005)
for b = bandwidth / weeks (4.8 at b = 1), not the normal 1.96. And because sandwich errors are
too small when the trend is extrapolated (high leverage), the variance used is the larger of
the HAC and the model-based (quasi-Poisson or WLS) one, and the critical value at least
Student t on the residual degrees of freedom. It assumes that without the initiative the pre-
adoption trend would have continued: an org-wide change at the same time is read as the
initiative's.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import WLS

from warehouse.impact.estimate import Estimate
from warehouse.impact.measures import Measure

MIN_PRE_WEEKS = 8
MIN_POST_WEEKS = 4


# Bandwidth as a share of the series (b): 1, i.e. every lag (Kiefer, Vogelsang and Bunzel
# 2000), with its fixed-b critical value. An AR(1) org factor with rho 0.8 looks like a level
# shift to one 52-week series; the AR(1) plug-in bandwidth of Andrews (1991), fitted to the
# model's residuals, saw little of it (the level and slope terms absorb it) and covered 72%;
# b = 0.3 / 0.5 covered 80% / 90%, b = 1 98% (50 simulated orgs each, docs/impact-method.md).
BANDWIDTH_SHARE = 1.0


def fixed_b_critical(b: float) -> float:
    """Two-sided 5% critical value of a Bartlett-kernel HAC t statistic with bandwidth share b
    (Kiefer and Vogelsang 2005's polynomial fit; 1.96 at b = 0)."""
    return 1.96 + 2.9694 * b + 0.4160 * b**2 - 0.5324 * b**3


def estimate(
    measure: Measure, num: np.ndarray, den: np.ndarray, pre: np.ndarray, post: np.ndarray
) -> Estimate:
    """num, den: the group's weekly sums over all weeks; pre, post: week indices."""
    est = Estimate("its", measure.name)
    pre = pre[den[pre] > 0]
    post = post[den[post] > 0]
    if len(pre) < MIN_PRE_WEEKS or len(post) < MIN_POST_WEEKS:
        est.unavailable = (
            f"a time series needs {MIN_PRE_WEEKS} weeks with data before and {MIN_POST_WEEKS} after "
            f"(has {len(pre)} and {len(post)})"
        )
        return est
    weeks = np.concatenate([pre, post]).astype(float)
    after = np.concatenate([np.zeros(len(pre)), np.ones(len(post))])
    w0, w_mid = float(post[0]), float(post.mean())
    x = np.column_stack([np.ones_like(weeks), weeks - w0, after, (weeks - w_mid) * after])
    y_num, y_den = num[weeks.astype(int)], den[weeks.astype(int)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if measure.kind == "ratio":
                if y_num[: len(pre)].sum() == 0 or y_num[len(pre) :].sum() == 0:
                    est.unavailable = "no events before or after"
                    return est
                model = GLM(y_num, x, family=families.Poisson(), offset=np.log(y_den))
                model_based = model.fit(scale="X2")  # quasi-Poisson: over-dispersion from the data
            else:
                model = WLS(y_num / y_den, x, weights=y_den)
                model_based = model.fit()
            lags = max(1, int(BANDWIDTH_SHARE * len(weeks)) - 1)
            hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    except (ValueError, np.linalg.LinAlgError) as exc:
        est.unavailable = f"the time series model could not be fitted ({exc})"
        return est
    params = np.asarray(hac.params)
    # The larger of the HAC and the model-based variance: HAC allows week-to-week correlation,
    # but like every sandwich estimator it is biased low for a contrast that extrapolates the
    # baseline trend (high-leverage weeks); calibrated in docs/impact-method.md.
    variance = max(
        float(np.asarray(hac.cov_params())[2, 2]), float(np.asarray(model_based.cov_params())[2, 2])
    )
    if not np.isfinite(params).all() or not np.isfinite(variance):
        est.unavailable = "the time series model did not converge"
        return est
    est.theta = float(params[2])
    se, df = math.sqrt(variance), float(hac.df_resid)
    # The larger of the Student t and the fixed-b critical value; the p-value maps the t
    # statistic through the same stretch (exact at 5%, an approximation elsewhere).
    stretch = max(float(stats.t.ppf(0.975, df)), fixed_b_critical((lags + 1) / len(weeks))) / 1.96
    est.low, est.high = est.theta - 1.96 * stretch * se, est.theta + 1.96 * stretch * se
    est.p_value = float(2 * stats.norm.sf(abs(est.theta) / (se * stretch)))
    est.se, est.df = se * stretch, df  # the effective standard error of the interval
    level = params[2] + params[3] * (w0 - w_mid)
    est.extra.update(
        level_change=math.expm1(float(level)),
        slope_change_per_week=math.expm1(float(params[3])),
        hac_lags=lags,
    )
    return est
