package wallet

import (
	"strconv"
	"strings"
)

const (
	Dining        = "dining"
	Groceries     = "groceries"
	Transport     = "transport"
	Travel        = "travel"
	Fuel          = "fuel"
	Shopping      = "shopping"
	Entertainment = "entertainment"
	Health        = "health"
	Education     = "education"
	Utilities     = "utilities"
	Digital       = "digital"
	Services      = "services"
	Government    = "government"
	Financial     = "financial"
	Other         = "other"
)

// Categories lists every category in display order.
var Categories = []string{Dining, Groceries, Transport, Travel, Fuel, Shopping, Entertainment, Health,
	Education, Utilities, Digital, Services, Government, Financial, Other}

// mccRange maps the ISO 18245 merchant category codes lo..hi (inclusive).
type mccRange struct {
	lo, hi   int
	category string
}

// mccRanges is the category table, also in docs/bills.md. Broad ranges
// come with narrower exceptions: the narrowest range containing a code
// wins (two overlapping ranges always nest, which a test checks). A code
// in no range, or a missing one, is other.
var mccRanges = []mccRange{
	{742, 780, Services},        // veterinary, agricultural co-operatives, landscaping
	{1500, 2999, Services},      // contractors, publishing, specialty cleaning
	{3000, 3999, Travel},        // airlines, car rental agencies, hotels by brand
	{4000, 4799, Transport},     // railways, commuter transport, taxis, buses, tolls
	{4119, 4119, Health},        // ambulance services
	{4214, 4299, Services},      // freight, couriers, storage
	{4411, 4411, Travel},        // cruise lines
	{4457, 4468, Entertainment}, // boat rentals, marinas
	{4511, 4582, Travel},        // airlines, airports
	{4722, 4723, Travel},        // travel agencies, tour operators
	{4800, 4899, Utilities},     // telecommunications, cable and pay television
	{4816, 4816, Digital},       // computer network and information services
	{4829, 4829, Financial},     // money orders, wire transfers
	{4900, 4999, Utilities},     // electricity, gas, water, sanitation
	{5000, 5199, Shopping},      // wholesale goods
	{5047, 5047, Health},        // medical, dental and hospital equipment
	{5122, 5122, Health},        // drugs and druggists' sundries
	{5172, 5172, Fuel},          // petroleum products
	{5200, 5399, Shopping},      // home supply, department and discount stores
	{5400, 5499, Groceries},     // supermarkets, food stores, bakeries
	{5500, 5599, Shopping},      // car, boat and motorcycle dealers, parts
	{5541, 5542, Fuel},          // service stations, fuel dispensers
	{5600, 5799, Shopping},      // clothing, furniture, electronics, music
	{5811, 5814, Dining},        // caterers, restaurants, bars, fast food
	{5815, 5818, Digital},       // digital goods: media, games, apps
	{5900, 5999, Shopping},      // miscellaneous retail
	{5912, 5912, Health},        // drug stores and pharmacies
	{5975, 5976, Health},        // hearing aids, orthopaedic goods
	{5983, 5983, Fuel},          // fuel dealers
	{6000, 6999, Financial},     // banks, cash, securities, insurance
	{7011, 7033, Travel},        // hotels, timeshares, camps, campgrounds
	{7200, 7299, Services},      // laundry, beauty, spas and other personal services
	{7300, 7399, Services},      // business services
	{7372, 7372, Digital},       // computer programming, data processing
	{7500, 7599, Services},      // car repair, car washes
	{7511, 7519, Travel},        // car, truck and motor home rental
	{7523, 7523, Transport},     // parking lots and garages
	{7600, 7699, Services},      // repair shops
	{7800, 7999, Entertainment}, // cinemas, theatres, sports, amusement, recreation
	{8000, 8099, Health},        // doctors, dentists, hospitals, medical services
	{8100, 8199, Services},      // legal services
	{8200, 8299, Education},     // schools, colleges, universities
	{8300, 8999, Services},      // social and professional services, organisations
	{8351, 8351, Education},     // child care
	{9000, 9999, Government},    // taxes, fines, courts, postal and other government services
}

// CategoryOf maps a merchant category code to a spending category.
func CategoryOf(mcc string) string {
	if len(mcc) != 4 || strings.Trim(mcc, "0123456789") != "" {
		return Other
	}
	code, _ := strconv.Atoi(mcc)
	best, width := Other, 1<<30
	for _, r := range mccRanges {
		if code >= r.lo && code <= r.hi && r.hi-r.lo < width {
			best, width = r.category, r.hi-r.lo
		}
	}
	return best
}
