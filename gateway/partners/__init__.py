"""Partners: the frozen model of a partner file and the registry of all of them."""

from gateway.partners.model import Partner, PartnerFile
from gateway.partners.registry import PartnerRegistry, load_partner, load_partners

__all__ = ["Partner", "PartnerFile", "PartnerRegistry", "load_partner", "load_partners"]
