"""Engineering analyses: atmosphere, aerodynamics, structures, performance, sizing.

SI units throughout; see ``/work/shared/ENGINEERING.md`` for the formulas.
"""

from __future__ import annotations

from .aerodynamics import (
    cruise_lift_coefficient,
    drag_coefficient,
    finite_wing_lift_slope,
    induced_drag_coefficient,
    lift_coefficient,
    lift_to_drag,
    max_lift_to_drag,
    polar_dataset,
)
from .atmosphere import ISAState, density, dynamic_pressure, isa, pressure, speed_of_sound, temperature, true_airspeed
from .performance import (
    battery_range,
    breguet_range_jet,
    breguet_range_jet_mass_specific,
    breguet_range_propeller,
    breguet_range_propeller_mass_specific,
    fuel_fraction_jet,
    tsfc_per_hour_to_per_s,
)
from .sizing import aspect_ratio, mass_breakdown_dataset, thrust_to_weight, wing_loading
from .structures import (
    AL_7075_T6,
    CFRP_QUASI_ISOTROPIC,
    MATERIALS,
    Material,
    bending_stress,
    elliptic_lift_per_span,
    margin_of_safety,
    root_moment_elliptic,
    root_moment_uniform,
    tip_deflection_point,
    tip_deflection_uniform,
    wing_loads_dataset,
)

__all__ = [
    "AL_7075_T6",
    "CFRP_QUASI_ISOTROPIC",
    "ISAState",
    "MATERIALS",
    "Material",
    "aspect_ratio",
    "battery_range",
    "bending_stress",
    "breguet_range_jet",
    "breguet_range_jet_mass_specific",
    "breguet_range_propeller",
    "breguet_range_propeller_mass_specific",
    "cruise_lift_coefficient",
    "density",
    "drag_coefficient",
    "dynamic_pressure",
    "elliptic_lift_per_span",
    "finite_wing_lift_slope",
    "fuel_fraction_jet",
    "induced_drag_coefficient",
    "isa",
    "lift_coefficient",
    "lift_to_drag",
    "margin_of_safety",
    "mass_breakdown_dataset",
    "max_lift_to_drag",
    "polar_dataset",
    "pressure",
    "root_moment_elliptic",
    "root_moment_uniform",
    "speed_of_sound",
    "temperature",
    "thrust_to_weight",
    "tip_deflection_point",
    "tip_deflection_uniform",
    "true_airspeed",
    "tsfc_per_hour_to_per_s",
    "wing_loading",
    "wing_loads_dataset",
]
