"""The shared parameter vocabulary (ENGINEERING.md), plus the gate parameters the
default gates use. Programs may declare more with ``Program.declare_params``."""

from __future__ import annotations

from .params import ParamSpec

__all__ = ["VOCABULARY"]


def _spec(name, unit="1", description="", type="float", min=None, max=None, choices=None):
    return ParamSpec(name=name, type=type, unit=unit if type in ("float", "int") else None,
                     min=min, max=max, choices=choices, description=description)


_ENTRIES = [
    # configuration (CAD)
    _spec("span", "m", "wing span", min=0.1, max=200),
    _spec("wing_area", "m**2", "reference wing area", min=0.01, max=2000),
    _spec("aspect_ratio", "1", "span² / wing_area (the CAD gate checks the stored value within 1 %)", min=0.5, max=60),
    _spec("taper_ratio", "1", "tip chord / root chord", min=0, max=1.5),
    _spec("sweep_quarter_chord", "deg", "sweep of the quarter-chord line", min=-60, max=75),
    _spec("twist_tip", "deg", "linear washout at the tip (negative = washout)", min=-20, max=20),
    _spec("mtow", "kg", "maximum take-off mass", min=1, max=1e6),
    _spec("oew", "kg", "operating empty mass", min=1, max=1e6),
    _spec("max_fuel", "kg", "fuel capacity", min=0, max=1e6),
    _spec("max_payload", "kg", "maximum payload", min=0, max=1e6),
    _spec("cruise_mach", "1", "cruise Mach number", min=0, max=5),
    _spec("cruise_altitude", "m", "cruise altitude", min=0, max=30000),
    _spec("design_range", "km", "design range", min=0, max=30000),
    _spec("thrust_to_weight", "1", "take-off thrust / (mtow·g)", min=0, max=3),
    _spec("cd0", "1", "zero-lift drag coefficient", min=0, max=1),
    _spec("ld_required", "1", "required cruise lift-to-drag ratio", min=0, max=100),
    _spec("limit_load_factor", "1", "limit manoeuvre load factor n (≥ 2.5 transport category)", min=0, max=15),
    _spec("factor_of_safety", "1", "ultimate / limit load (1.5)", min=1, max=5),
    _spec("design_dive_speed", "m/s", "design dive speed V_D", min=0, max=2000),
    _spec("production_rate_target", "1/month", "units per month", min=0, max=1000),
    _spec("dal", description="DO-178C / DO-254 design assurance level", type="str", choices=["A", "B", "C", "D", "E"]),
    # analysis results (CAE)
    _spec("analysis_converged", description="every CAE analysis converged", type="bool"),
    _spec("ld_cruise", "1", "computed cruise lift-to-drag ratio", min=0, max=100),
    _spec("flutter_speed", "m/s", "predicted flutter speed", min=0, max=5000),
    # integration (CAI)
    _spec("open_critical_interface_issues", "1", "open critical interface issues", type="int", min=0),
    # optimization (CAO)
    _spec("selected_feasible", description="the selected configuration meets every constraint", type="bool"),
    _spec("optimality_gap", "1", "relative gap to the best known solution", min=0, max=10),
    # manufacturing (CAM)
    _spec("producibility_review_passed", description="producibility review passed", type="bool"),
    _spec("manufacturing_instructions_released", description="manufacturing instructions released", type="bool"),
    # production planning (CAP)
    _spec("production_rate_planned", "1/month", "planned production rate", min=0, max=1000),
    _spec("supplier_readiness", "1", "fraction of critical parts with a ready supplier", min=0, max=1),
    _spec("cycle_time", "h", "production cycle time per unit", min=0),
    _spec("takt_time", "h", "takt time (available time / demand)", min=0),
    # verification (CAV)
    _spec("open_nonconformances", "1", "open non-conformances", type="int", min=0),
    _spec("nonconformance_threshold", "1", "largest acceptable number of open non-conformances", type="int", min=0),
    # certification (CMP)
    _spec("assurance_objectives_met", description="DO-178C / DO-254 objectives met for the declared DAL", type="bool"),
    _spec("authority_coordination_recorded", description="certification authority coordination recorded", type="bool"),
    # sustainment (CAS)
    _spec("mtbf_hours", "h", "fleet mean time between failures", min=0),
    _spec("mtbf_target_hours", "h", "MTBF target", min=0),
    _spec("dispatch_reliability", "1", "1 − delays-and-cancellations / departures", min=0, max=1),
    _spec("dispatch_reliability_target", "1", "dispatch reliability target", min=0, max=1),
    _spec("maintenance_programme_approved", description="maintenance programme approved", type="bool"),
]

VOCABULARY: dict[str, ParamSpec] = {spec.name: spec for spec in _ENTRIES}
